// The front desk's live room board: `rooms:<pid>` (the snapshot on subscribe, then every
// event's room state, newer versions only) with today's arrivals and departures from the day's
// list (desk.js) as badges. A room's dialog changes its status, blocks it and assigns it to an
// arrival.
"use strict";

import { $, api, el, words } from "./core.js";
import { live } from "./core.js";
import { day } from "./desk.js";

/// Every room of the property, by number, as the server last told us.
export const rooms = {
  all: new Map(),
  listeners: new Set(),
  pid: null,
  start(pid) {
    if (this.pid) return;
    this.pid = pid;
    live.follow(`rooms:${pid}`, (f) => {
      if (f.type === "subscribed" || f.type === "reset") {
        this.all = new Map(f.snapshot.rooms.map((r) => [r.number, r]));
        this.notify(null);
      } else if (f.type === "event" && f.state?.number) this.put(f.state);
    });
  },
  /// Takes a room's state if it is newer than what we hold (events and HTTP answers race).
  put(r) {
    const known = this.all.get(r.number);
    if (known && known.version >= r.version) return;
    this.all.set(r.number, r);
    this.notify(r.number);
  },
  notify(number) { for (const l of this.listeners) l(number); },
};

export const blockedNow = (r) => !!r.block && new Date(r.block.from) <= new Date() && new Date() < new Date(r.block.to);

let ctx = null;

export async function start(c) {
  ctx = c;
  $("filter-floor").addEventListener("change", applyFilters);
  $("filter-status").addEventListener("change", applyFilters);
  for (const b of document.querySelectorAll("[data-clean]")) {
    b.addEventListener("click", () => change({ cleanliness: b.dataset.clean }));
  }
  document.querySelector("[data-rush]").addEventListener("click", () => {
    change({ rush: !rooms.all.get(openNumber).rush });
  });
  $("place-block").addEventListener("click", placeBlock);
  $("release-block").addEventListener("click", releaseBlock);
  rooms.listeners.add((number) => {
    if (number === null) renderBoard();
    else {
      renderRoom(rooms.all.get(number));
      refreshDialog();
    }
  });
  day.listeners.add(() => {
    if (rooms.all.size) renderBoard();
    refreshDialog();
  });
  rooms.start(ctx.pid);
  day.start(ctx.pid);
  // Another screen may have started following the rooms already: draw what is known.
  if (rooms.all.size) renderBoard();
}

// ---- the board ----------------------------------------------------------------------------

/// Room number → "arrival" / "departure" badges for today, from the day's list.
function todayByRoom() {
  const by = new Map();
  for (const r of day.list) {
    if (!r.room) continue;
    const mark = by.get(r.room.number) || {};
    if (r.status === "confirmed" && r.stay.arrival === day.date) mark.arrival = r;
    if (r.status === "in_house" && r.stay.departure === day.date) mark.departure = r;
    if (r.status === "in_house") mark.stay = r;
    by.set(r.room.number, mark);
  }
  return by;
}

let today = new Map();

function matches(r) {
  const floor = $("filter-floor").value;
  const status = $("filter-status").value;
  if (floor && String(r.floor) !== floor) return false;
  switch (status) {
    case "": return true;
    case "occupied": return r.fo_occupancy === "occupied";
    case "vacant": return r.fo_occupancy !== "occupied";
    case "blocked": return blockedNow(r);
    case "arrival": return !!today.get(r.number)?.arrival;
    case "departure": return !!today.get(r.number)?.departure;
    default: return r.cleanliness === status;
  }
}

function renderBoard() {
  today = todayByRoom();
  const all = [...rooms.all.values()];
  const floors = [...new Set(all.map((r) => r.floor))].sort((a, b) => a - b);
  const select = $("filter-floor");
  const chosen = select.value;
  select.replaceChildren(new Option("All", ""), ...floors.map((f) => new Option(`Floor ${f}`, String(f))));
  select.value = chosen;
  $("floors").replaceChildren(...floors.map((floor) => {
    const tiles = all.filter((r) => r.floor === floor)
      .sort((a, b) => a.number.localeCompare(b.number, undefined, { numeric: true }))
      .map(tile);
    return el("section", { class: "floor", dataset: { floor } },
      el("h2", {}, `Floor ${floor}`),
      el("div", { class: "rooms", id: `floor-${floor}` }, tiles));
  }));
  renderCounts();
}

function tile(r) {
  const b = el("button", { type: "button", id: `room-${r.number}`, onclick: () => openRoom(r.number) });
  fillTile(b, r);
  return b;
}

function fillTile(b, r) {
  const blocked = blockedNow(r);
  const mark = today.get(r.number) || {};
  b.className = `room ${blocked ? "blocked" : r.cleanliness} ${r.fo_occupancy === "occupied" ? "occupied" : ""}`;
  b.dataset.cleanliness = r.cleanliness;
  b.dataset.version = r.version;
  b.hidden = !matches(r);
  const occupancy = r.fo_occupancy === "occupied" ? "occupied" : "vacant";
  const badges = [];
  if (mark.arrival) badges.push(["ARR", "arr", "arrival today"]);
  if (mark.departure) badges.push(["DEP", "dep", "departure today"]);
  if (r.service === "dnd") badges.push(["DND", "", "do not disturb"]);
  if (r.service === "make_up_room") badges.push(["MUR", "", "make up room"]);
  if (r.rush) badges.push(["RUSH", "rush", "rush"]);
  if (blocked) badges.push([r.block.kind === "out_of_order" ? "OOO" : "OOS", "", words(r.block.kind)]);
  b.setAttribute("aria-label", `Room ${r.number}, ${r.cleanliness}, ${occupancy}${badges.map((x) => ", " + x[2]).join("")}`);
  b.replaceChildren(
    el("span", { class: "num" }, r.number),
    el("span", { class: "what" }, `${r.cleanliness} · ${occupancy}`),
    el("span", { class: "badges" }, badges.map(([text, cls]) => el("span", { class: `badge ${cls}` }, text))),
  );
}

function renderRoom(r) {
  const existing = $(`room-${r.number}`);
  if (existing) fillTile(existing, r);
  else renderBoard();
  renderCounts();
}

function renderCounts() {
  const all = [...rooms.all.values()];
  const dirty = all.filter((r) => r.cleanliness === "dirty").length;
  const occupied = all.filter((r) => r.fo_occupancy === "occupied").length;
  const arrivals = [...today.values()].filter((m) => m.arrival).length;
  $("counts").textContent = `${all.length} rooms · ${dirty} dirty · ${occupied} occupied · ${arrivals} arrivals assigned`;
}

function applyFilters() {
  for (const r of rooms.all.values()) {
    const b = $(`room-${r.number}`);
    if (b) b.hidden = !matches(r);
  }
}

// ---- one room -----------------------------------------------------------------------------

let openNumber = null;

function openRoom(number) {
  openNumber = number;
  $("room-error").textContent = "";
  const until = new Date(Date.now() + 86400000);
  $("block-until").value = until.toISOString().slice(0, 10);
  $("block-reason").value = "";
  $("room-dialog").showModal();
  refreshDialog();
}

function refreshDialog() {
  const r = rooms.all.get(openNumber);
  if (!r || !$("room-dialog").open) return;
  const mark = todayByRoom().get(r.number) || {};
  $("room-title").textContent = `Room ${r.number}`;
  const facts = [
    ["Type", r.room_type], ["Floor", r.floor], ["Cleanliness", r.cleanliness],
    ["Occupancy", r.fo_occupancy], ["Service", words(r.service)], ["Rush", r.rush ? "yes" : "no"],
  ];
  if (mark.stay) facts.push(["In house", `${mark.stay.guest_name ?? "guest"} until ${mark.stay.stay.departure}`]);
  if (mark.arrival) facts.push(["Arriving", mark.arrival.guest_name ?? "guest"]);
  if (r.block) facts.push(["Block", `${words(r.block.kind)} until ${new Date(r.block.to).toLocaleDateString()}: ${r.block.reason}`]);
  $("room-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
  const blocked = !!r.block;
  $("block-release").hidden = !blocked;
  $("block-place").hidden = blocked;
  // Today's arrivals of this room's type still without a room: assign one here.
  const waiting = day.list.filter((x) => x.status === "confirmed" && !x.room && x.stay.arrival === day.date && x.room_type === r.room_type);
  const assign = $("room-assign");
  assign.replaceChildren();
  if (waiting.length && !blocked && r.fo_occupancy !== "occupied") {
    assign.append(el("h3", {}, "Assign to an arrival"), el("div", { class: "actions" }, waiting.map((x) =>
      el("button", { type: "button", class: "secondary", dataset: { assign: x.id }, onclick: () => assignTo(x, r) },
        `${x.guest_name ?? "Guest"} (${x.stay.arrival} – ${x.stay.departure})`))));
  }
}

async function run(fn) {
  $("room-error").textContent = "";
  try {
    await fn();
  } catch (e) {
    $("room-error").textContent = e.message;
  }
}

function change(body) {
  const r = rooms.all.get(openNumber);
  return run(async () => {
    rooms.put(await api("POST", `/properties/${ctx.pid}/rooms/${encodeURIComponent(r.number)}/status`, { ...body, expected_version: r.version }));
  });
}

function placeBlock() {
  const r = rooms.all.get(openNumber);
  const until = $("block-until").value;
  const reason = $("block-reason").value.trim();
  if (!until || !reason) {
    $("room-error").textContent = "A block needs an end date and a reason.";
    return;
  }
  return run(async () => {
    rooms.put(await api("POST", `/properties/${ctx.pid}/rooms/${encodeURIComponent(r.number)}/blocks`, {
      kind: $("block-kind").value, to: new Date(`${until}T12:00:00`).toISOString(), reason, expected_version: r.version,
    }));
  });
}

function releaseBlock() {
  const r = rooms.all.get(openNumber);
  return run(async () => {
    rooms.put(await api("POST", `/properties/${ctx.pid}/rooms/${encodeURIComponent(r.number)}/blocks/release`, { expected_version: r.version }));
  });
}

function assignTo(reservation, r) {
  return run(async () => {
    await api("POST", `/reservations/${reservation.id}/assign`, { room: r.number, expected_version: reservation.version });
    day.refresh();
  });
}

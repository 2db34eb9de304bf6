// The front desk's day: arrivals, departures and stays in house on the business date, with
// assign, check-in and check-out. `reservations:<pid>` says when something changed; the list
// itself is read over HTTP (`GET …/reservations`), which names the guests and is what the
// server decides the day holds.
"use strict";

import { $, api, debounce, el, live, words } from "./core.js";
import { rooms, blockedNow } from "./board.js";

/// The business date's reservations, refetched (once per burst) whenever one changes.
export const day = {
  list: [],
  date: null,
  pid: null,
  listeners: new Set(),
  start(pid) {
    if (this.pid) return;
    this.pid = pid;
    const refetch = debounce(() => this.refresh());
    live.follow(`reservations:${pid}`, (f) => {
      if (["subscribed", "reset", "event"].includes(f.type)) refetch();
    });
    // The night audit moves the business date without touching a reservation: read the day
    // again every few minutes, and whenever the screen comes back into view.
    setInterval(refetch, 5 * 60 * 1000);
    document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && refetch());
  },
  async refresh() {
    const r = await api("GET", `/properties/${this.pid}/reservations`);
    this.list = r.reservations;
    this.date = r.business_date;
    for (const l of this.listeners) l();
  },
};

export async function start(ctx) {
  day.listeners.add(render);
  // The room picker offers rooms as the board has them now.
  rooms.listeners.add(debounce(render, 200));
  rooms.start(ctx.pid);
  day.start(ctx.pid);
  if (day.date) render();
}

const byName = (a, b) => (a.guest_name || "").localeCompare(b.guest_name || "");

function render() {
  if (!day.date) return;
  // Re-rendering must not take a half-made choice or the keyboard focus from the clerk.
  const picked = new Map([...$("arrivals").querySelectorAll("select")].map((s) => [s.id, s.value]));
  const focused = document.activeElement?.id;
  $("desk-date").textContent = `Business date ${day.date}`;
  // Who still needs the desk comes first; those already through it follow, greyed.
  const arrivals = day.list.filter((r) => r.stay.arrival === day.date && r.status !== "canceled" && r.status !== "no_show")
    .sort((a, b) => (a.status === "in_house") - (b.status === "in_house") || byName(a, b));
  const departures = day.list.filter((r) => r.stay.departure === day.date && (r.status === "in_house" || r.status === "checked_out"))
    .sort((a, b) => (a.status === "checked_out") - (b.status === "checked_out") || byName(a, b));
  const inHouse = day.list.filter((r) => r.status === "in_house" && r.stay.departure > day.date).sort(byName);
  fill("arrivals", arrivals, arrivalRow);
  fill("departures", departures, departureRow);
  fill("inhouse", inHouse, (r) => row(r, [], `until ${r.stay.departure}`));
  for (const [id, value] of picked) {
    const s = $(id);
    if (s && [...s.options].some((o) => o.value === value)) s.value = value;
  }
  if (focused && document.activeElement !== $(focused)) $(focused)?.focus();
}

function fill(id, list, make) {
  $(id).replaceChildren(...(list.length ? list.map(make) : [el("li", { class: "muted" }, "None")]));
  $(`${id}-count`).textContent = `(${list.length})`;
}

function row(r, actions, detail) {
  return el("li", { class: `row ${r.status}`, dataset: { rid: r.id, status: r.status } },
    el("div", { class: "row-main" },
      el("strong", {}, r.guest_name || "Guest"),
      el("span", { class: "muted" }, ` ${r.room_type} · ${r.room ? "room " + r.room.number : "no room yet"} · ${detail ?? words(r.status)}`)),
    el("div", { class: "actions" }, actions));
}

function act(r, action, body = {}) {
  return async (ev) => {
    ev.target.disabled = true;
    $("desk-msg").textContent = "";
    try {
      await api("POST", `/reservations/${r.id}/${action}`, { ...body, expected_version: r.version });
      await day.refresh();
    } catch (e) {
      $("desk-msg").textContent = `${r.guest_name || "Guest"}: ${e.message}`;
      ev.target.disabled = false;
    }
  };
}

// Rooms to offer an arrival: its type, vacant, not blocked; ready ones first.
const READY = { inspected: 0, clean: 1, pickup: 2, dirty: 3 };
function candidates(r) {
  const taken = new Set(day.list.filter((x) => x.room && x.id !== r.id && ["confirmed", "in_house"].includes(x.status)
    && x.stay.arrival < r.stay.departure && r.stay.arrival < x.stay.departure).map((x) => x.room.number));
  return [...rooms.all.values()]
    .filter((room) => room.room_type === r.room_type && room.fo_occupancy !== "occupied" && !blockedNow(room) && !taken.has(room.number))
    .sort((a, b) => READY[a.cleanliness] - READY[b.cleanliness] || a.number.localeCompare(b.number, undefined, { numeric: true }));
}

function arrivalRow(r) {
  if (r.status === "in_house") return row(r, [], "checked in");
  const actions = [];
  if (!r.room && r.status === "confirmed") {
    const id = `pick-${r.id}`;
    const pick = el("select", { id, "aria-label": `Room for ${r.guest_name || "guest"}` },
      candidates(r).map((room) => new Option(`${room.number} (${room.cleanliness})`, room.number)));
    actions.push(pick, el("button", {
      type: "button", class: "secondary", dataset: { action: "assign" },
      onclick: (ev) => pick.value ? act(r, "assign", { room: pick.value })(ev) : ($("desk-msg").textContent = "No free room of this type."),
    }, "Assign"));
  }
  if (r.room && r.status === "confirmed") {
    actions.push(el("button", { type: "button", dataset: { action: "check-in" }, onclick: act(r, "check-in") }, "Check in"));
  }
  return row(r, actions);
}

function departureRow(r) {
  if (r.status === "checked_out") return row(r, [], "checked out");
  return row(r, [el("button", { type: "button", dataset: { action: "check-out" }, onclick: act(r, "check-out") }, "Check out")]);
}

// Bellhop web app: only the public HTTP API and WebSocket protocol (README), no build step.
//
// The access token lives in sessionStorage (a tab's sign-in ends with the tab). The room
// board is a live view of `rooms:<pid>`: the snapshot on subscribe, then every event's room
// state; a dropped connection shows "Reconnecting…" and resubscribes by itself (a fresh
// snapshot is the recovery, see the protocol).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("bellhop.token"), me: null, pid: null, rooms: new Map() };

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = new Error(json?.error?.message || res.statusText);
    err.code = json?.error?.code;
    err.status = res.status;
    throw err;
  }
  return json;
}

function show(id) {
  for (const s of ["login", "board", "queue", "elsewhere"]) $(s).hidden = s !== id;
  $("logout").hidden = id === "login";
}

// ---- sign-in --------------------------------------------------------------------------

async function onLogin(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  const body = { email: $("email").value.trim(), password: $("password").value };
  if (!$("totp-row").hidden && $("totp").value) body.totp = $("totp").value.trim();
  $("login-submit").disabled = true;
  try {
    const res = await api("POST", "/auth/login", body);
    state.token = res.access_token;
    sessionStorage.setItem("bellhop.token", state.token);
    await start();
  } catch (e) {
    if (e.code === "totp_required") {
      $("totp-row").hidden = false;
      $("totp").focus();
      $("login-error").textContent = "Enter the 6-digit code from your authenticator app.";
    } else {
      $("login-error").textContent = e.message || "Sign-in failed";
    }
  } finally {
    $("login-submit").disabled = false;
  }
}

function logout() {
  sessionStorage.removeItem("bellhop.token");
  state.token = null;
  if (socket) socket.close(1000);
  location.reload();
}

// Each role lands on its screen.
async function start() {
  try {
    state.me = await api("GET", "/auth/me");
  } catch (e) {
    state.token = null;
    sessionStorage.removeItem("bellhop.token");
    show("login");
    $("email").focus();
    return;
  }
  const role = state.me.role;
  if (["front_desk", "manager", "admin"].includes(role)) {
    state.pid = state.me.property_id || (await api("GET", "/properties")).properties[0]?.id;
    const property = await api("GET", `/properties/${state.pid}`);
    $("hotel").textContent = property.name;
    show("board");
    connect(`rooms:${state.pid}`);
  } else if (["housekeeper", "maintenance"].includes(role)) {
    state.pid = state.me.property_id;
    const property = await api("GET", `/properties/${state.pid}`);
    $("hotel").textContent = property.name;
    show("queue");
    await loadQueue();
    connect(`tasks:user:${state.me.user_id}`);
  } else {
    show("elsewhere");
    $("elsewhere-text").textContent =
      `You are signed in (${role.replace("_", " ")}). The web app has the front desk's room board and the housekeeping queue so far; your screen is on its way.`;
  }
}

// ---- the live board -------------------------------------------------------------------

let socket = null;
let retry = 0;

function setLive(ok, text) {
  const el = $("live");
  el.hidden = false;
  el.className = ok ? "live ok" : "live";
  el.textContent = text;
}

let topic = null;

function connect(name) {
  if (name) topic = name;
  setLive(false, retry ? "Reconnecting…" : "Connecting…");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(state.token)}`);
  socket.onopen = () => {
    socket.send(JSON.stringify({ op: "subscribe", topic, id: "screen" }));
  };
  socket.onmessage = (m) => onFrame(JSON.parse(m.data));
  socket.onclose = (ev) => {
    if (ev.code === 1000 || !state.token) return;
    if (ev.code === 4401) {
      // The access token expired: sign in again.
      logout();
      return;
    }
    retry += 1;
    setLive(false, "Reconnecting…");
    setTimeout(() => connect(), Math.min(1000 * 2 ** (retry - 1), 10000));
  };
}

function onFrame(f) {
  if (topic && topic.startsWith("tasks:")) return onQueueFrame(f);
  if (f.type === "subscribed" || f.type === "reset") {
    retry = 0;
    setLive(true, "Live");
    state.rooms = new Map(f.snapshot.rooms.map((r) => [r.number, r]));
    renderBoard();
  } else if (f.type === "event" && f.state && f.state.number) {
    const known = state.rooms.get(f.state.number);
    if (!known || known.version < f.state.version) {
      state.rooms.set(f.state.number, f.state);
      renderRoom(f.state);
      renderCounts();
      refreshDialog(f.state);
    }
  } else if (f.type === "error") {
    setLive(false, f.message);
  }
}

const blockedNow = (r) => !!r.block && new Date(r.block.from) <= new Date() && new Date() < new Date(r.block.to);

function matches(r) {
  const floor = $("filter-floor").value;
  const status = $("filter-status").value;
  if (floor && String(r.floor) !== floor) return false;
  switch (status) {
    case "": return true;
    case "occupied": return r.fo_occupancy === "occupied";
    case "vacant": return r.fo_occupancy !== "occupied";
    case "blocked": return blockedNow(r);
    default: return r.cleanliness === status;
  }
}

function renderBoard() {
  const floors = [...new Set([...state.rooms.values()].map((r) => r.floor))].sort((a, b) => a - b);
  const select = $("filter-floor");
  const chosen = select.value;
  select.replaceChildren(new Option("All", ""), ...floors.map((f) => new Option(`Floor ${f}`, String(f))));
  select.value = chosen;
  const root = $("floors");
  root.replaceChildren();
  for (const floor of floors) {
    const section = document.createElement("section");
    section.className = "floor";
    section.dataset.floor = floor;
    const h = document.createElement("h2");
    h.textContent = `Floor ${floor}`;
    const grid = document.createElement("div");
    grid.className = "rooms";
    grid.id = `floor-${floor}`;
    section.append(h, grid);
    root.append(section);
    const rooms = [...state.rooms.values()].filter((r) => r.floor === floor)
      .sort((a, b) => a.number.localeCompare(b.number, undefined, { numeric: true }));
    for (const r of rooms) grid.append(tile(r));
  }
  renderCounts();
}

function tile(r) {
  const b = document.createElement("button");
  b.type = "button";
  b.id = `room-${r.number}`;
  b.addEventListener("click", () => openRoom(r.number));
  fillTile(b, r);
  return b;
}

function fillTile(b, r) {
  const blocked = blockedNow(r);
  b.className = `room ${blocked ? "blocked" : r.cleanliness} ${r.fo_occupancy === "occupied" ? "occupied" : ""}`;
  b.dataset.cleanliness = r.cleanliness;
  b.dataset.version = r.version;
  b.hidden = !matches(r);
  const occupancy = r.fo_occupancy === "occupied" ? "occupied" : "vacant";
  const badges = [];
  if (r.service === "dnd") badges.push(["DND", ""]);
  if (r.service === "make_up_room") badges.push(["MUR", ""]);
  if (r.rush) badges.push(["RUSH", "rush"]);
  if (blocked) badges.push([r.block.kind === "out_of_order" ? "OOO" : "OOS", ""]);
  b.setAttribute("aria-label", `Room ${r.number}, ${r.cleanliness}, ${occupancy}${badges.length ? ", " + badges.map((x) => x[0]).join(", ") : ""}`);
  b.replaceChildren();
  const num = document.createElement("span");
  num.className = "num";
  num.textContent = r.number;
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = `${r.cleanliness} · ${occupancy}`;
  const badgeRow = document.createElement("span");
  badgeRow.className = "badges";
  for (const [text, cls] of badges) {
    const s = document.createElement("span");
    s.className = `badge ${cls}`;
    s.textContent = text;
    badgeRow.append(s);
  }
  b.append(num, what, badgeRow);
}

function renderRoom(r) {
  const existing = $(`room-${r.number}`);
  if (existing) fillTile(existing, r);
  else renderBoard();
}

function renderCounts() {
  const all = [...state.rooms.values()];
  const dirty = all.filter((r) => r.cleanliness === "dirty").length;
  const occupied = all.filter((r) => r.fo_occupancy === "occupied").length;
  $("counts").textContent = `${all.length} rooms · ${dirty} dirty · ${occupied} occupied`;
}

function applyFilters() {
  for (const r of state.rooms.values()) {
    const b = $(`room-${r.number}`);
    if (b) b.hidden = !matches(r);
  }
}

// ---- one room -------------------------------------------------------------------------

let openNumber = null;

function openRoom(number) {
  openNumber = number;
  $("room-error").textContent = "";
  refreshDialog(state.rooms.get(number));
  $("room-dialog").showModal();
}

function refreshDialog(r) {
  if (!r || r.number !== openNumber) return;
  $("room-title").textContent = `Room ${r.number}`;
  const facts = [
    ["Type", r.room_type], ["Floor", r.floor], ["Cleanliness", r.cleanliness],
    ["Occupancy", r.fo_occupancy], ["Service", r.service], ["Rush", r.rush ? "yes" : "no"],
    ["Version", r.version],
  ];
  $("room-facts").replaceChildren(...facts.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
}

async function changeRoom(change) {
  const r = state.rooms.get(openNumber);
  $("room-error").textContent = "";
  try {
    const after = await api("POST", `/properties/${state.pid}/rooms/${encodeURIComponent(r.number)}/status`, change);
    if (after.version > (state.rooms.get(after.number)?.version || 0)) {
      state.rooms.set(after.number, after);
      renderRoom(after);
      renderCounts();
    }
    refreshDialog(state.rooms.get(after.number));
  } catch (e) {
    $("room-error").textContent = e.message;
  }
}

// ---- a housekeeper's queue (phone) -----------------------------------------------------

// The server orders the queue (work in hand, rush, arrivals, priority, age; holds last):
// every change refetches it rather than guessing the order here.
let queueTimer = null;

function onQueueFrame(f) {
  if (f.type === "subscribed" || f.type === "reset") {
    retry = 0;
    setLive(true, "Live");
    loadQueue();
  } else if (f.type === "event") {
    clearTimeout(queueTimer);
    queueTimer = setTimeout(loadQueue, 100);
  } else if (f.type === "error") {
    setLive(false, f.message);
  }
}

const KIND = {
  departure: "Departure clean", stayover: "Stayover clean", check: "Check", pickup: "Pick-up",
  turndown: "Turndown", inspection: "Inspection", maintenance: "Repair", guest_request: "Guest request",
};

async function loadQueue() {
  const { tasks } = await api("GET", `/properties/${state.pid}/tasks`);
  $("queue-empty").hidden = tasks.length > 0;
  $("tasks").replaceChildren(...tasks.map(taskCard));
}

function taskCard(t) {
  const li = document.createElement("li");
  li.className = `task ${t.status}`;
  li.id = `task-${t.id}`;
  li.dataset.status = t.status;
  const h = document.createElement("h2");
  h.textContent = `${t.room_number ? "Room " + t.room_number + " · " : ""}${KIND[t.kind] || t.kind}`;
  const meta = document.createElement("p");
  meta.className = "meta";
  const bits = [t.status.replace("_", " ")];
  if (t.rush) bits.push("RUSH");
  if (t.arrival_today) bits.push("arrival today");
  if (t.priority && t.priority !== "normal") bits.push(`${t.priority} priority`);
  if (t.hold) bits.push(`on hold: ${t.hold}`);
  meta.textContent = bits.join(" · ");
  const actions = document.createElement("div");
  actions.className = "actions";
  const button = (label, action, body) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.action = action;
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api("POST", `/tasks/${t.id}/${action}`, { ...body, expected_version: t.version });
        await loadQueue();
      } catch (e) {
        meta.textContent = e.message;
        b.disabled = false;
      }
    });
    actions.append(b);
  };
  if (t.status === "assigned" || t.status === "created") button("Start", "start", {});
  if (t.status === "in_progress") {
    button("Done", "complete", {});
    button("Pause", "hold", { hold: "other" });
  }
  if (t.status === "on_hold") button("Resume", "resume", {});
  li.append(h, meta, actions);
  for (const n of t.notes || []) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = n.text;
    li.append(p);
  }
  return li;
}

async function onReport(ev) {
  ev.preventDefault();
  $("report-msg").textContent = "";
  try {
    await api("POST", `/properties/${state.pid}/tasks`, {
      kind: "maintenance",
      room: $("report-room").value.trim(),
      note: $("report-note").value.trim(),
    });
    $("report-msg").textContent = "Sent to maintenance.";
    $("report-form").reset();
  } catch (e) {
    $("report-msg").textContent = e.message;
  }
}

// ---- wiring ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", logout);
  $("report-form").addEventListener("submit", onReport);
  $("filter-floor").addEventListener("change", applyFilters);
  $("filter-status").addEventListener("change", applyFilters);
  for (const b of document.querySelectorAll("[data-clean]")) {
    b.addEventListener("click", () => changeRoom({ cleanliness: b.dataset.clean }));
  }
  document.querySelector("[data-rush]").addEventListener("click", () => {
    const r = state.rooms.get(openNumber);
    changeRoom({ rush: !r.rush });
  });
  if (state.token) start();
  else {
    show("login");
    $("email").focus();
  }
});

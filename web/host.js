// The restaurant host stand: the venue's floor plan with each table's state, live, the day's
// bookings and the waitlist. `tables:<venue_id>` brings the snapshot and says when anything
// changed; the plan is then read again over HTTP (`GET …/venues/<vid>`), which is exactly the
// snapshot's shape.
"use strict";

import { $, api, debounce, el, live, say, time, words } from "./core.js";

let ctx = null;
let venue = null; // { venue, tables, parties }
let openTable = null;

export async function start(c) {
  ctx = c;
  const { venues } = await api("GET", `/properties/${ctx.pid}/venues`);
  const pick = $("venue-pick");
  pick.replaceChildren(...venues.map((v) => new Option(v.name, v.id)));
  pick.addEventListener("change", () => follow(pick.value));
  $("party-form").addEventListener("submit", addParty);
  const at = new Date(Date.now() + 3600000);
  at.setMinutes(Math.ceil(at.getMinutes() / 15) * 15, 0, 0);
  $("party-at").value = local(at);
  if (!venues.length) {
    $("host-msg").textContent = "This hotel has no restaurant or bar yet.";
    return;
  }
  follow(venues[0].id);
}

const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

let followed = null;
function follow(vid) {
  if (followed) live.unfollow(`tables:${followed}`);
  followed = vid;
  const refetch = debounce(async () => {
    venue = await api("GET", `/properties/${ctx.pid}/venues/${vid}`);
    render();
  });
  live.follow(`tables:${vid}`, (f) => {
    if (f.type === "subscribed" || f.type === "reset") {
      venue = f.snapshot;
      render();
    } else if (f.type === "event") refetch();
  });
}

const partyOf = (id) => venue.parties.find((p) => p.id === id);

function render() {
  const { tables, parties } = venue;
  const counts = {};
  for (const t of tables) counts[t.state] = (counts[t.state] || 0) + 1;
  $("table-counts").textContent = Object.entries(counts).map(([k, n]) => `${n} ${words(k)}`).join(" · ");
  // Each section is a grid; a table sits at its (x, y).
  const sections = [...new Set(tables.map((t) => t.section || ""))];
  $("plan").replaceChildren(...sections.map((name) => el("section", { class: "section" },
    el("h2", {}, name || "Tables"),
    el("div", { class: "grid" }, tables.filter((t) => (t.section || "") === name).map(tableButton)))));
  const waiting = parties.filter((p) => p.kind === "waitlist" && ["quoted", "notified"].includes(p.status));
  const bookings = parties.filter((p) => p.kind === "booking" && ["booked", "arrived"].includes(p.status))
    .sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  $("waitlist").replaceChildren(...(waiting.length ? waiting.map(partyRow) : [el("li", { class: "muted" }, "Nobody waiting")]));
  $("bookings").replaceChildren(...(bookings.length ? bookings.map(partyRow) : [el("li", { class: "muted" }, "No more bookings today")]));
  $("waitlist-count").textContent = `(${waiting.length})`;
  $("bookings-count").textContent = `(${bookings.length})`;
  refreshDialog();
}

function tableButton(t) {
  const seated = t.seated ? partyOf(t.seated) : null;
  const b = el("button", {
    type: "button", id: `table-${t.name}`, class: `table ${t.shape} ${t.state}`, dataset: { state: t.state },
    "aria-label": `Table ${t.name}, ${t.max_seats} seats, ${words(t.state)}${seated ? ", " + seated.name : ""}`,
    onclick: () => openDialog(t.id),
  }, el("span", { class: "num" }, t.name), el("span", { class: "what" }, `${t.max_seats} · ${words(t.state)}`),
  seated ? el("span", { class: "who" }, seated.name || `party of ${seated.size}`) : null);
  b.style.gridColumnStart = String(Math.max(1, Math.round(t.x || 1)));
  b.style.gridRowStart = String(Math.max(1, Math.round(t.y || 1)));
  return b;
}

function partyRow(p) {
  const tables = p.tables.map((id) => venue.tables.find((t) => t.id === id)?.name).filter(Boolean);
  const when = p.kind === "waitlist"
    ? `waiting since ${time(p.created_at)}, quoted ${p.quoted_minutes ? `about ${p.quoted_minutes} min` : "no wait"}`
    : `${time(p.starts_at)}${tables.length ? " · table " + tables.join("+") : ""}`;
  const actions = [];
  const act = (label, action, body, cls) => el("button", {
    type: "button", class: cls, dataset: { action },
    onclick: () => run(() => api("POST", `/parties/${p.id}/${action}`, body)),
  }, label);
  if (p.kind === "booking" && p.status === "booked") actions.push(act("Arrived", "arrive", {}, "secondary"));
  if (p.kind === "booking" && tables.length) {
    actions.push(el("button", {
      type: "button", dataset: { action: "seat" },
      onclick: () => run(() => api("POST", `/tables/${p.tables[0]}/seat`, { party_id: p.id })),
    }, "Seat"));
  }
  if (p.kind === "booking") actions.push(act("Cancel", "cancel", {}, "secondary"));
  if (p.kind === "waitlist") actions.push(act("Remove", "remove", {}, "secondary"));
  return el("li", { class: `row ${p.status}`, id: `party-${p.id}`, dataset: { status: p.status } },
    el("div", { class: "row-main" }, el("strong", {}, p.name || "Walk-in"), el("span", { class: "muted" }, ` ${p.size} · ${when} · ${words(p.status)}`)),
    el("div", { class: "actions" }, actions));
}

async function run(fn) {
  say($("host-msg"), "");
  $("table-error").textContent = "";
  try {
    await fn();
  } catch (e) {
    ($("table-dialog").open ? $("table-error") : $("host-msg")).textContent = e.message;
  }
}

function openDialog(id) {
  openTable = id;
  $("table-error").textContent = "";
  $("table-dialog").showModal();
  refreshDialog();
}

function refreshDialog() {
  const t = venue?.tables.find((x) => x.id === openTable);
  if (!t || !$("table-dialog").open) return;
  $("table-title").textContent = `Table ${t.name}`;
  const facts = [["Seats", `${t.min_seats}–${t.max_seats}`], ["Section", t.section || "—"], ["State", words(t.state)]];
  if (t.blocked) facts.push(["Blocked", t.blocked]);
  if (t.held) facts.push(["Held for", `${partyOf(t.held.party)?.name ?? "a waiting party"} until ${time(t.held.until)}`]);
  $("table-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
  const call = (label, action, body, cls) => el("button", {
    type: "button", class: cls, dataset: { action },
    // Done with the table: the dialog closes (a refusal stays in it, with the reason).
    onclick: () => run(async () => {
      await api("POST", `/tables/${t.id}/${action}`, { ...body, expected_version: t.version });
      $("table-dialog").close();
    }),
  }, label);
  const actions = [];
  if (t.state === "occupied") actions.push(call("Clear (party left)", "clear"));
  if (t.state === "needs_bussing") actions.push(call("Bussed", "bus"));
  if (t.state === "blocked") actions.push(call("Unblock", "unblock", {}, "secondary"));
  if (t.state === "available" || t.state === "reserved") {
    // Seat someone who fits: a waiting party, a booking (of this table or not), at once.
    const fits = venue.parties.filter((p) => ["booked", "arrived", "quoted", "notified"].includes(p.status) && p.size <= t.max_seats);
    for (const p of fits) {
      actions.push(call(`Seat ${p.name || "party"} (${p.size})`, "seat", { party_id: p.id }));
      if (p.kind === "waitlist" && p.status === "quoted" && t.state === "available") {
        actions.push(call(`Tell ${p.name || "party"} it is ready`, "ready", { party_id: p.id }, "secondary"));
      }
    }
    if (t.state === "available") actions.push(call("Block", "block", { reason: "held by the host" }, "secondary"));
  }
  $("table-actions").replaceChildren(...actions);
}

async function addParty(ev) {
  ev.preventDefault();
  const kind = ev.submitter?.dataset.kind || "walk-in";
  const size = Number($("party-size").value);
  const name = $("party-name").value.trim();
  const base = `/properties/${ctx.pid}/venues/${followed}`;
  await run(async () => {
    if (kind === "walk-in") await api("POST", `${base}/walk-ins`, { party_size: size, ...(name ? { name } : {}) });
    else if (kind === "waitlist") {
      if (!name) throw new Error("A waiting party needs a name.");
      const p = await api("POST", `${base}/waitlist`, { party_size: size, name });
      // A quote of 0 means a table fits them now (the list keeps the quote: "quoted no wait").
      const wait = p.quoted_minutes ? `about ${p.quoted_minutes} minutes` : "a table is free now";
      say($("host-msg"), `${name}: ${wait}.`, true);
    } else {
      if (!name || !$("party-at").value) throw new Error("A booking needs a name and a time.");
      await api("POST", `${base}/bookings`, { party_size: size, name, at: new Date($("party-at").value).toISOString() });
    }
    $("party-name").value = "";
  });
}

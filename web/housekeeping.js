// Housekeeping: a housekeeper's (or maintenance worker's) queue on their phone, and the
// supervisor's board of every open task by person.
//
// The server orders queues (work in hand, rush, arrivals, priority, age; holds last): every
// change refetches the list rather than guessing the order here. The topics (`tasks:user:<uid>`,
// `tasks:<pid>`) say when.
"use strict";

import { $, api, debounce, el, live, words } from "./core.js";

export const KIND = {
  departure: "Departure clean", stayover: "Stayover clean", check: "Check", pickup: "Pick-up",
  turndown: "Turndown", inspection: "Inspection", maintenance: "Repair", guest_request: "Guest request",
};

const title = (t) => `${t.room_number ? "Room " + t.room_number + " · " : ""}${KIND[t.kind] || t.kind}`;

function meta(t) {
  const bits = [words(t.status)];
  if (t.rush) bits.push("RUSH");
  if (t.arrival_today) bits.push("arrival today");
  if (t.priority && t.priority !== "normal") bits.push(`${t.priority} priority`);
  if (t.hold) bits.push(`on hold: ${words(t.hold)}`);
  if (t.escalated) bits.push("escalated");
  return bits.join(" · ");
}

// ---- my queue (phone) -----------------------------------------------------------------------

export const queue = {
  async start(ctx) {
    this.pid = ctx.pid;
    // A repair nobody was given goes to every maintenance worker on duty; the first to claim
    // it takes it. (Cleanings are handed out by the supervisor.)
    this.claims = ctx.me.role === "maintenance";
    $("report-form").addEventListener("submit", (ev) => this.report(ev));
    const refetch = debounce(() => this.load());
    live.follow(`tasks:user:${ctx.me.user_id}`, (f) => {
      if (["subscribed", "reset", "event"].includes(f.type)) refetch();
    });
  },

  async load() {
    const [{ tasks }, open] = await Promise.all([
      api("GET", `/properties/${this.pid}/tasks`),
      this.claims ? api("GET", `/properties/${this.pid}/tasks?claimable=true`) : { tasks: [] },
    ]);
    $("queue-empty").hidden = tasks.length > 0;
    $("tasks").replaceChildren(...tasks.map((t) => this.card(t)));
    $("open-repairs").hidden = open.tasks.length === 0;
    $("open-tasks").replaceChildren(...open.tasks.map((t) => this.card(t)));
  },

  card(t) {
    const note = el("p", { class: "meta" }, meta(t));
    const button = (label, action, body = {}) => el("button", {
      type: "button", dataset: { action },
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api("POST", `/tasks/${t.id}/${action}`, { ...body, expected_version: t.version });
          await this.load();
        } catch (e) {
          note.textContent = e.message;
          ev.target.disabled = false;
          // Someone else was quicker (a claim), or the task changed: show what is true now.
          setTimeout(() => this.load().catch(() => {}), 1500);
        }
      },
    }, label);
    const actions = [];
    if (!t.assignee) actions.push(button("Claim", "claim"));
    else if (t.status === "assigned" || t.status === "created") actions.push(button("Start", "start"));
    if (t.status === "in_progress") actions.push(button("Done", "complete"), button("Pause", "hold", { hold: "other" }));
    if (t.status === "on_hold") actions.push(button("Resume", "resume"));
    return el("li", { class: `task ${t.status}`, id: `task-${t.id}`, dataset: { status: t.status } },
      el("h2", {}, title(t)), note, el("div", { class: "actions" }, actions),
      (t.notes || []).map((n) => el("p", { class: "muted" }, n.text)));
  },

  async report(ev) {
    ev.preventDefault();
    $("report-msg").textContent = "";
    try {
      await api("POST", `/properties/${this.pid}/tasks`, {
        kind: "maintenance", room: $("report-room").value.trim(), note: $("report-note").value.trim(),
      });
      $("report-msg").textContent = "Sent to maintenance.";
      $("report-form").reset();
    } catch (e) {
      $("report-msg").textContent = e.message;
    }
  },
};

// ---- the supervisor's board -----------------------------------------------------------------

export const supervisor = {
  staff: [],
  tasks: [],

  async start(ctx) {
    this.pid = ctx.pid;
    // Read first: if this fails the screen is started again later, listeners not yet added.
    this.staff = (await api("GET", `/properties/${this.pid}/staff`)).staff;
    $("auto-assign").addEventListener("click", () => this.run(async () => {
      const r = await api("POST", `/properties/${this.pid}/tasks/auto-assign`);
      this.say(`${r.assigned?.length ?? 0} tasks assigned.`);
    }));
    $("new-task").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.run(async () => {
        await api("POST", `/properties/${this.pid}/tasks`, { kind: $("new-task-kind").value, room: $("new-task-room").value.trim() });
        $("new-task-room").value = "";
      });
    });
    const refetch = debounce(() => this.load());
    live.follow(`tasks:${this.pid}`, (f) => {
      if (["subscribed", "reset", "event"].includes(f.type)) refetch();
    });
  },

  async load() {
    // Finished tasks use linen and amenities: the same events that change the board may
    // take an item below its threshold (`stock_low`), so both are read together.
    const [{ tasks }, { stock }] = await Promise.all([
      api("GET", `/properties/${this.pid}/tasks`),
      api("GET", `/properties/${this.pid}/stock`),
    ]);
    this.tasks = tasks;
    const low = stock.filter((i) => i.low);
    $("stock-low").hidden = low.length === 0;
    $("stock-low").textContent = `Running low: ${low.map((i) => `${i.item} (${i.count} left)`).join(", ")}`;
    this.render();
  },

  say(text) { $("supervisor-msg").textContent = text; },

  async run(fn) {
    this.say("");
    try {
      await fn();
    } catch (e) {
      this.say(e.message);
    }
  },

  render() {
    const focused = document.activeElement?.id;
    const lanes = [{ user_id: null, name: "Unassigned", role: null, on_duty: true }, ...this.staff];
    const known = new Set(this.staff.map((s) => s.user_id));
    $("task-counts").textContent = `${this.tasks.length} open · ${this.tasks.filter((t) => !t.assignee).length} unassigned`;
    $("lanes").replaceChildren(...lanes.map((s) => {
      const mine = this.tasks.filter((t) => (t.assignee ?? null) === s.user_id || (s.user_id === null && t.assignee && !known.has(t.assignee)));
      const lane = el("section", { class: "lane", id: `lane-${s.user_id ?? "none"}`, dataset: { user: s.user_id ?? "" },
        ondragover: (ev) => { ev.preventDefault(); lane.classList.add("over"); },
        ondragleave: () => lane.classList.remove("over"),
        ondrop: (ev) => {
          ev.preventDefault();
          lane.classList.remove("over");
          const task = this.tasks.find((t) => t.id === ev.dataTransfer.getData("text/plain"));
          if (task) this.assign(task, s.user_id);
        },
      },
      el("h2", {}, s.name, s.role ? el("span", { class: "muted" }, ` ${words(s.role)}${s.on_duty ? "" : " · off duty"}`) : null,
        el("span", { class: "count" }, ` (${mine.length})`)),
      el("ol", { class: "tasks" }, mine.map((t) => this.card(t))));
      return lane;
    }));
    if (focused && document.activeElement?.id !== focused) $(focused)?.focus();
  },

  card(t) {
    const pick = el("select", { id: `assign-${t.id}`, "aria-label": `Assign ${title(t)}`, onchange: () => this.assign(t, pick.value || null) },
      new Option("Unassigned", ""),
      this.staff.map((s) => new Option(`${s.name} (${words(s.role)})`, s.user_id)));
    pick.value = t.assignee ?? "";
    return el("li", { class: `task ${t.status}`, id: `sv-task-${t.id}`, draggable: "true", dataset: { status: t.status, assignee: t.assignee ?? "" },
      ondragstart: (ev) => ev.dataTransfer.setData("text/plain", t.id) },
    el("h3", {}, title(t)), el("p", { class: "meta" }, meta(t)), pick);
  },

  assign(t, to) {
    if ((t.assignee ?? null) === to) return;
    return this.run(async () => {
      if (to) await api("POST", `/tasks/${t.id}/assign`, { to, expected_version: t.version });
      else await api("POST", `/tasks/${t.id}/unassign`, { expected_version: t.version });
      await this.load();
    });
  },
};

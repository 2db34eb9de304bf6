// Guest chat, both sides: the guest's page (their stay and the conversation with the hotel)
// and the staff inbox (every conversation, its status, one open at a time).
//
// `chat:<cid>` is a stream topic: the page remembers the last seq it saw and, after a dropped
// connection, resubscribes with `since` to get exactly what it missed. A message is sent with
// an idempotency key, so sending again after a lost answer never posts it twice.
"use strict";

import { $, api, el, live, time, words } from "./core.js";

const OTHER = { guest: "staff", staff: "guest" };

/// One conversation on screen, from `side`'s point of view.
class Thread {
  constructor({ side, list, typing, form, body, note, error, visible }) {
    Object.assign(this, { side, list, typing, form, body, note, error, visible });
    this.cid = null;
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.send(); });
    body.addEventListener("keydown", (ev) => {
      // Enter sends, Shift+Enter starts a new line (as in every messenger).
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); this.send(); }
    });
    body.addEventListener("input", () => this.typed());
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  open(cid) {
    if (this.cid) live.unfollow(`chat:${this.cid}`);
    this.cid = cid;
    this.topic = `chat:${cid}`;
    this.messages = new Map();
    this.conv = null;
    this.seen = 0;
    this.list.replaceChildren();
    this.typing.textContent = "";
    live.follow(this.topic, (f) => this.onFrame(f), () => this.seen);
  }

  onFrame(f) {
    if (f.type === "subscribed" || f.type === "reset") {
      this.messages = new Map(f.snapshot.messages.map((m) => [m.seq, m]));
      this.conv = f.snapshot.conversation;
      this.seen = this.conv.version;
      this.earlier = f.snapshot.has_more;
    } else if (f.type === "recovered") {
      for (const e of f.events) this.apply(e);
      if (f.state) this.conv = f.state;
      this.seen = Math.max(this.seen, this.conv?.version ?? 0);
    } else if (f.type === "event") {
      this.apply(f);
      if (f.state?.read) this.conv = f.state;
    } else if (f.type === "typing") {
      if (f.side === this.side) return;
      this.typing.textContent = this.side === "guest" ? "The front desk is typing…" : "The guest is typing…";
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => { this.typing.textContent = ""; }, f.expires_in_ms || 5000);
      return;
    } else if (f.type === "error") {
      this.error.textContent = f.message;
      return;
    } else return;
    this.render();
    this.markRead();
  }

  apply(e) {
    this.seen = Math.max(this.seen, e.seq);
    const ev = e.event;
    if (ev.kind === "message_sent") {
      this.messages.set(ev.message.seq, ev.message);
      if (ev.message.author?.type !== this.side) {
        clearTimeout(this.typingTimer);
        this.typing.textContent = "";
      }
    } else if ((ev.kind === "read" || ev.kind === "delivered") && this.conv) {
      const marks = this.conv[ev.kind];
      marks[ev.side] = Math.max(marks[ev.side] || 0, ev.up_to);
    }
  }

  status(m) {
    const other = OTHER[this.side];
    if (!this.conv || m.kind === "note") return "";
    if ((this.conv.read?.[other] ?? 0) >= m.seq) return "read";
    if ((this.conv.delivered?.[other] ?? 0) >= m.seq) return "delivered";
    return "sent";
  }

  /// The messages before the oldest on screen (the snapshot holds the latest 50): the
  /// history pages forward from the start, up to what is shown.
  async loadEarlier() {
    const oldest = Math.min(...this.messages.keys());
    let after = 0;
    for (;;) {
      const page = await api("GET", `/conversations/${this.cid}/messages?after=${after}&limit=200`);
      for (const m of page.messages) if (m.seq < oldest) this.messages.set(m.seq, m);
      if (!page.has_more || page.next_after >= oldest) break;
      after = page.next_after;
    }
    this.earlier = false;
    this.render();
    this.list.scrollTop = 0;
  }

  render() {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const sorted = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    const more = this.earlier
      ? [el("li", { class: "earlier" }, el("button", {
        type: "button", class: "secondary", id: `${this.side}-earlier`,
        onclick: () => this.loadEarlier().catch((e) => { this.error.textContent = e.message; }),
      }, "Earlier messages"))]
      : [];
    this.list.replaceChildren(...more, ...sorted.map((m) => {
      const mine = m.author?.type === this.side;
      const who = m.kind === "note" ? "Internal note" : mine ? "You" : this.side === "guest" ? "Front desk" : "Guest";
      const status = mine ? this.status(m) : "";
      return el("li", { class: `msg ${mine ? "mine" : "theirs"} ${m.kind}`, id: `msg-${m.seq}`, dataset: { seq: m.seq, status } },
        el("p", { class: "body" }, m.body),
        el("p", { class: "meta" }, `${who} · ${time(m.at)}`, status ? el("span", { class: `tick ${status}` }, ` · ${status}`) : null));
    }));
    if (atBottom || sorted.length <= 1) this.list.scrollTop = this.list.scrollHeight;
  }

  /// Reads up to the newest message from the other side, when someone can see it.
  markRead() {
    if (!this.conv || document.visibilityState !== "visible" || !this.visible()) return;
    const other = OTHER[this.side];
    const newest = Math.max(0, ...[...this.messages.values()].filter((m) => m.author?.type === other).map((m) => m.seq));
    if (newest > (this.conv.read?.[this.side] ?? 0) && newest > (this.readAsked || 0)) {
      this.readAsked = newest;
      live.request({ op: "read", topic: this.topic, seq: newest }).catch(() => { this.readAsked = 0; });
    }
  }

  typed() {
    const now = Date.now();
    if (this.body.value && now - (this.lastTyping || 0) > 2000) {
      this.lastTyping = now;
      live.tell({ op: "typing", topic: this.topic });
    }
  }

  async send() {
    const body = this.body.value.trim();
    if (!body || !this.cid) return;
    const kind = this.note?.checked ? "note" : "text";
    const key = crypto.randomUUID();
    this.error.textContent = "";
    this.body.value = "";
    try {
      await live.request({ op: "send", topic: this.topic, body, key, kind });
    } catch (e) {
      if (e.code !== "offline" && e.code !== "timeout") {
        this.body.value = body;
        this.error.textContent = e.message;
        return;
      }
      // The socket is down (or did not answer): the same key over HTTP stores it once.
      try {
        await api("POST", `/conversations/${this.cid}/messages`, { body, key, kind });
      } catch (e2) {
        this.body.value = body;
        this.error.textContent = e2.message;
      }
    }
    if (this.note) this.note.checked = false;
  }
}

// ---- the guest's page -----------------------------------------------------------------------

export const guest = {
  async start(me) {
    for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== "guest";
    $("logout").hidden = true;
    const rid = me.reservation_id;
    if (!(await this.stay(rid))) return;
    // The stay itself is live too: a room assigned, the check-in, new dates (and whatever
    // changed while the connection was down, on resubscribing).
    let first = true;
    live.follow(`reservation:${rid}`, (f) => {
      if (f.type === "subscribed" && first) first = false;
      else if (["subscribed", "event", "reset"].includes(f.type)) this.stay(rid);
    });
    const thread = new Thread({
      side: "guest", list: $("guest-messages"), typing: $("guest-typing"), form: $("guest-send"),
      body: $("guest-body"), note: null, error: $("guest-msg"), visible: () => true,
    });
    thread.open(rid);
  },

  async stay(rid) {
    let r;
    try {
      r = await api("GET", `/reservations/${rid}`);
    } catch (e) {
      $("stay").textContent = e.message;
      return false;
    }
    $("hotel").textContent = r.property_name ?? "";
    $("guest-title").textContent = r.guest_name ? `Welcome, ${r.guest_name}` : "Your stay";
    const nights = Math.round((new Date(r.stay.departure) - new Date(r.stay.arrival)) / 86400000);
    const facts = [
      ["Arrival", r.stay.arrival], ["Departure", r.stay.departure], ["Nights", nights],
      ["Room", r.room?.number ?? `${r.room_type} (assigned on arrival)`],
      ["Guests", `${r.party.adults} adult${r.party.adults === 1 ? "" : "s"}${r.party.children ? `, ${r.party.children} children` : ""}`],
      ["Status", words(r.status)], ["Reference", r.id.slice(0, 8).toUpperCase()],
    ];
    $("stay").replaceChildren(el("dl", { class: "facts", id: "stay-facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { dataset: { fact: k.toLowerCase() } }, String(v))])));
    return true;
  },
};

// ---- the staff inbox ------------------------------------------------------------------------

export const inbox = {
  conversations: new Map(),

  async start(ctx) {
    this.pid = ctx.pid;
    this.thread = new Thread({
      side: "staff", list: $("staff-messages"), typing: $("staff-typing"), form: $("staff-send"),
      body: $("staff-body"), note: $("staff-note"), error: $("staff-chat-msg"),
      visible: () => !$("inbox").hidden && !$("staff-chat").hidden,
    });
    $("inbox-filter").addEventListener("change", () => this.render());
    $("chat-status").addEventListener("change", () => this.setStatus());
    live.follow(`inbox:${this.pid}`, (f) => {
      if (f.type === "subscribed" || f.type === "reset") {
        this.conversations = new Map(f.snapshot.conversations.map((c) => [c.id, c]));
      } else if (f.type === "event" && f.state?.id) {
        const known = this.conversations.get(f.state.id);
        if (!known || known.version < f.state.version) this.conversations.set(f.state.id, f.state);
      } else return;
      this.render();
    });
  },

  shown() { this.thread?.markRead(); },

  render() {
    const filter = $("inbox-filter").value;
    const all = [...this.conversations.values()]
      .filter((c) => (filter ? c.status === filter : c.status !== "done" && c.status !== "archived"))
      .sort((a, b) => (b.last_message?.at ?? b.updated_at).localeCompare(a.last_message?.at ?? a.updated_at));
    $("conversations").replaceChildren(...(all.length ? all.map((c) => el("li", {},
      el("button", {
        type: "button", class: `conv ${c.id === this.open ? "open" : ""}`, id: `conv-${c.id}`, dataset: { status: c.status, unread: c.unread_staff },
        onclick: () => this.show(c.id),
      },
      el("span", { class: "who" }, c.guest_name, c.unread_staff ? el("span", { class: "badge rush" }, String(c.unread_staff)) : null),
      el("span", { class: `status ${c.status}` }, words(c.status)),
      el("span", { class: "preview muted" }, c.last_message ? c.last_message.preview : "No messages yet")))) : [el("li", { class: "muted" }, "No conversations here")]));
    const c = this.conversations.get(this.open);
    if (c) {
      $("staff-chat-title").textContent = c.guest_name;
      $("chat-status").value = c.status;
    }
  },

  show(cid) {
    this.open = cid;
    $("staff-chat").hidden = false;
    $("staff-chat-msg").textContent = "";
    this.thread.open(cid);
    this.render();
    $("staff-body").focus();
  },

  async setStatus() {
    const c = this.conversations.get(this.open);
    if (!c) return;
    const status = $("chat-status").value;
    const body = { status };
    if (status === "follow_up") body.follow_up = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    try {
      await api("POST", `/conversations/${c.id}/status`, body);
    } catch (e) {
      $("staff-chat-msg").textContent = e.message;
      $("chat-status").value = c.status;
    }
  },
};

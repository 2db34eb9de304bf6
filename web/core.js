// What every screen shares: the HTTP client (with the session's tokens), one live socket that
// carries every topic the page follows, and small DOM helpers.
//
// Tokens live in sessionStorage: a tab's sign-in ends with the tab. The access token lasts
// minutes; it is refreshed a minute before it expires (and once more on a 401 or a 4401 close),
// so a shift is never interrupted by a sign-in page.
"use strict";

export const $ = (id) => document.getElementById(id);

const store = sessionStorage;
export const session = {
  get token() { return store.getItem("bellhop.token"); },
  get refresh() { return store.getItem("bellhop.refresh"); },
  // A guest's page is opened with a token from the email link and has no refresh token.
  set(access, refresh, expiresIn) {
    store.setItem("bellhop.token", access);
    if (refresh) store.setItem("bellhop.refresh", refresh);
    else store.removeItem("bellhop.refresh");
    clearTimeout(session.timer);
    if (refresh && expiresIn) session.timer = setTimeout(renew, Math.max(5, expiresIn - 60) * 1000);
  },
  clear() {
    clearTimeout(session.timer);
    store.removeItem("bellhop.token");
    store.removeItem("bellhop.refresh");
  },
  timer: null,
};

let renewing = null;

/// Trades the refresh token for new tokens (once at a time). Answers true when renewed, false
/// when the server refused (the sign-in is over), null when it could not be asked (offline):
/// a network outage must never sign anyone out.
export function renew() {
  if (!session.refresh) return Promise.resolve(false);
  renewing ??= fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  })
    .then(async (res) => {
      if (res.status === 401 || res.status === 400) return false;
      if (!res.ok) return null;
      const r = await res.json();
      session.set(r.access_token, r.refresh_token, r.expires_in);
      return true;
    })
    .catch(() => null)
    .finally(() => { renewing = null; });
  return renewing;
}

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/// Calls the HTTP API; answers the JSON body or throws an ApiError with the server's message.
export async function api(method, path, body, retried = false) {
  const headers = { "content-type": "application/json" };
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError("No connection to the server. Try again in a moment.", "offline", 0);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's page */ }
  // An expired token — or one signed with a key the server no longer has (an embedded
  // single node makes a new key at every start) — is renewed with the refresh token, once.
  if (res.status === 401 && ["token_expired", "invalid_token"].includes(json?.error?.code) && !retried && session.token) {
    const renewed = await renew();
    if (renewed) return api(method, path, body, true);
    if (renewed === false) signedOut();
  }
  if (!res.ok) throw new ApiError(json?.error?.message || res.statusText, json?.error?.code, res.status);
  return json;
}

/// `el("button", {class: "x", onclick: f}, "text", child…)`: an element with attributes,
/// listeners and children (strings become text, never HTML).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/// Runs `fn` at most once per `ms`, after the last call (a burst of events, one refetch).
/// A refetch that fails says so in the connection indicator; the next event tries again.
export function debounce(fn, ms = 80) {
  let t = null;
  return () => {
    clearTimeout(t);
    t = setTimeout(() => Promise.resolve().then(fn).then(recovered, trouble), ms);
  };
}

/// A read went through again: a "Not up to date" shown earlier is over (while connected).
function recovered() {
  if (live.socket?.readyState === WebSocket.OPEN && $("live").textContent !== "Live") setLive(true, "Live");
}

/// Shows that something could not be read, without losing what is on screen.
export function trouble(e) {
  setLive(false, e?.status === 0 ? "Offline — retrying…" : `Not up to date: ${e?.message ?? e}`);
}

export const words = (s) => String(s ?? "").replaceAll("_", " ");

export function time(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// ---- the live socket ---------------------------------------------------------------------

/// One WebSocket per page, whatever the number of topics it follows. A dropped connection shows
/// "Reconnecting…" and, once back, subscribes to every topic again: state topics answer with a
/// fresh snapshot, stream topics (chat) resume after the last seq they saw.
class Live {
  constructor() {
    this.topics = new Map(); // topic → { onFrame, since }
    this.pending = new Map(); // request id → { resolve, reject }
    this.socket = null;
    this.retry = 0;
    this.next = 1;
    this.closed = false;
  }

  /// Follows `topic`: `onFrame` gets its subscribed/event/reset/recovered/typing frames and
  /// its errors. `since()`, when given, answers the seq to resume after.
  follow(topic, onFrame, since) {
    this.topics.set(topic, { onFrame, since });
    if (this.socket?.readyState === WebSocket.OPEN) this.subscribe(topic);
    else this.open();
  }

  unfollow(topic) {
    if (!this.topics.delete(topic)) return;
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ op: "unsubscribe", topic, id: `unsub:${topic}` }));
    }
  }

  subscribe(topic) {
    const t = this.topics.get(topic);
    const frame = { op: "subscribe", topic, id: `sub:${topic}` };
    const since = t.since?.();
    if (since) frame.since = since;
    this.socket.send(JSON.stringify(frame));
  }

  /// Sends an op and answers the server's reply to it (`sent`, `ok`), or throws its error.
  request(frame) {
    if (this.socket?.readyState !== WebSocket.OPEN) return Promise.reject(new ApiError("Not connected", "offline", 0));
    const id = `req:${this.next++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ ...frame, id }));
      setTimeout(() => {
        if (this.pending.delete(id)) reject(new ApiError("The server did not answer", "timeout", 0));
      }, 10000);
    });
  }

  /// Sends an op nobody waits for (typing).
  tell(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  open() {
    if (this.closed || (this.socket && this.socket.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.timer);
    setLive(false, this.retry ? "Reconnecting…" : "Connecting…");
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(session.token)}`);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      for (const topic of this.topics.keys()) this.subscribe(topic);
    };
    socket.onmessage = (m) => this.onMessage(JSON.parse(m.data));
    socket.onclose = async (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      for (const [id, p] of this.pending) p.reject(new ApiError("Connection lost", "offline", 0));
      this.pending.clear();
      if (this.closed || ev.code === 1000) return;
      if (ev.code === 4401 || ev.code === 4403) {
        // The token expired (or was revoked): renew it, else the sign-in is over.
        if ((await renew()) === false) return signedOut();
      } else if (!opened) {
        // The upgrade was refused or the server is away; a browser cannot tell which. Ask
        // over HTTP: a token the server no longer accepts is renewed there (see api), and
        // then there is no reason to wait.
        const before = session.token;
        await api("GET", "/auth/me").catch(() => {});
        if (this.closed) return;
        if (session.token !== before) return this.open();
      }
      this.retry += 1;
      setLive(false, "Reconnecting…");
      // Full jitter, doubling up to 5 s: a node's restart does not bring every screen back in
      // the same instant, and nobody at a desk waits long for a board to come back.
      const cap = Math.min(1000 * 2 ** (this.retry - 1), 5000);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.open(), Math.random() * cap);
    };
  }

  onMessage(f) {
    if (f.id !== undefined && this.pending.has(f.id)) {
      const p = this.pending.get(f.id);
      this.pending.delete(f.id);
      if (f.type === "error") p.reject(new ApiError(f.message, f.code, 0));
      else p.resolve(f);
      return;
    }
    const topic = f.topic ?? (typeof f.id === "string" && f.id.startsWith("sub:") ? f.id.slice(4) : null);
    const t = topic && this.topics.get(topic);
    if (f.type === "subscribed" || f.type === "reset" || f.type === "recovered") {
      this.retry = 0;
      setLive(true, "Live");
    }
    if (t) t.onFrame(f);
  }

  close() {
    this.closed = true;
    this.socket?.close(1000);
  }
}

export const live = new Live();

// Back online, or back in front of someone: try at once rather than at the next backoff.
window.addEventListener("online", () => live.open());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && live.topics.size) live.open();
});

export function setLive(ok, text) {
  const e = $("live");
  e.hidden = false;
  e.className = ok ? "live ok" : "live";
  e.textContent = text;
}

let onSignedOut = () => location.reload();
export function whenSignedOut(fn) { onSignedOut = fn; }
export function signedOut() {
  session.clear();
  live.close();
  onSignedOut();
}

/// Shows a message in `target` (an element with role=alert) and clears it after a while.
export function say(target, text, ok = false) {
  target.textContent = text;
  target.classList.toggle("ok", ok);
}

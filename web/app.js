// Bellhop web app: only the public HTTP API and WebSocket protocol (README), no build step.
//
// Sign-in, then each role lands on its screen; staff with several screens switch with the
// tabs (the address's #fragment names the screen, so a reload stays where it was). A guest's
// page is opened from the link in their email: /guest/<reservation>?token=….
"use strict";

import { $, api, el, session, signedOut, trouble, whenSignedOut } from "./core.js";
import * as board from "./board.js";
import * as desk from "./desk.js";
import * as housekeeping from "./housekeeping.js";
import * as host from "./host.js";
import * as chat from "./chat.js";

const SECTIONS = ["login", "board", "desk", "supervisor", "queue", "host", "inbox", "guest", "elsewhere"];

function show(id) {
  for (const s of SECTIONS) $(s).hidden = s !== id;
  $("logout").hidden = id === "login" || id === "guest";
}

// The screens each role works from, the first one its landing screen.
const SCREENS = {
  board: { label: "Rooms", section: "board", module: board },
  desk: { label: "Arrivals & departures", section: "desk", module: desk },
  housekeeping: { label: "Housekeeping", section: "supervisor", module: housekeeping.supervisor },
  restaurant: { label: "Restaurant", section: "host", module: host },
  inbox: { label: "Messages", section: "inbox", module: chat.inbox },
  queue: { label: "My tasks", section: "queue", module: housekeeping.queue },
};
const BY_ROLE = {
  admin: ["board", "desk", "housekeeping", "restaurant", "inbox"],
  manager: ["board", "desk", "housekeeping", "restaurant", "inbox"],
  front_desk: ["board", "desk", "housekeeping", "restaurant", "inbox"],
  housekeeper: ["queue"],
  maintenance: ["queue"],
  restaurant: ["restaurant"],
};

// ---- sign-in --------------------------------------------------------------------------

async function onLogin(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  const body = { email: $("email").value.trim(), password: $("password").value };
  if (!$("totp-row").hidden && $("totp").value) body.totp = $("totp").value.trim();
  $("login-submit").disabled = true;
  try {
    const res = await api("POST", "/auth/login", body);
    session.set(res.access_token, res.refresh_token, res.expires_in);
    await start();
    // Signed in: the keyboard (and a screen reader) carries on at the screen's content.
    $("main").focus({ preventScroll: true });
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

async function logout() {
  const refresh = session.refresh;
  if (refresh) await api("POST", "/auth/logout", { refresh_token: refresh }).catch(() => {});
  signedOut();
}

function toLogin() {
  history.replaceState(null, "", "/");
  show("login");
  $("tabs").hidden = true;
  $("live").hidden = true;
  $("email").focus();
}

// ---- landing --------------------------------------------------------------------------

const ctx = { me: null, pid: null, property: null };
const started = new Set();
let current = null;

async function start() {
  try {
    ctx.me = await api("GET", "/auth/me");
  } catch (e) {
    if (e.status !== 401) {
      // The server is away (or failing): keep the sign-in and try again shortly.
      trouble(e);
      setTimeout(start, 3000);
      return;
    }
    session.clear();
    return location.pathname.startsWith("/guest/") ? expired() : toLogin();
  }
  if (ctx.me.kind === "guest") return chat.guest.start(ctx.me);
  const screens = BY_ROLE[ctx.me.role] || [];
  if (!screens.length) {
    show("elsewhere");
    $("elsewhere-text").textContent = "Your account has no screen in the web app.";
    return;
  }
  ctx.pid = ctx.me.property_id || (await api("GET", "/properties")).properties[0]?.id;
  if (!ctx.pid) {
    show("elsewhere");
    $("elsewhere-text").textContent = "There is no hotel yet: create one with the API first.";
    return;
  }
  try {
    ctx.property = await api("GET", `/properties/${ctx.pid}`);
  } catch (e) {
    trouble(e);
    setTimeout(start, 3000);
    return;
  }
  $("hotel").textContent = ctx.property.name;
  const tabs = $("tabs");
  tabs.replaceChildren(...screens.map((name) =>
    el("a", { href: `#${name}`, id: `tab-${name}`, class: "tab" }, SCREENS[name].label)));
  tabs.hidden = screens.length < 2;
  window.onhashchange = async () => {
    await go(screens);
    $("main").focus({ preventScroll: true });
  };
  go(screens);
}

async function go(screens) {
  const wanted = location.hash.slice(1);
  const name = screens.includes(wanted) ? wanted : screens[0];
  const screen = SCREENS[name];
  for (const a of $("tabs").children) {
    if (a.id === `tab-${name}`) {
      a.setAttribute("aria-current", "page");
      // On a phone the tabs scroll sideways: keep the current one in view.
      a.scrollIntoView({ block: "nearest", inline: "nearest" });
    } else a.removeAttribute("aria-current");
  }
  if (current === name) return;
  current = name;
  show(screen.section);
  // A screen starts following its topics the first time it is shown and keeps them: going
  // back to it is instant, already up to date.
  if (!started.has(name)) {
    started.add(name);
    try {
      await screen.module.start(ctx);
    } catch (e) {
      // Not started after all (the server was away): the next visit to the tab tries again.
      started.delete(name);
      current = null;
      trouble(e);
    }
  } else {
    screen.module.shown?.();
  }
}

// ---- wiring ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", logout);
  // A guest's link: keep its token for this tab, then take it out of the address bar (and
  // out of the history, screenshots and anything the page might link to).
  const link = location.pathname.match(/^\/guest\/([0-9a-f-]{36})$/);
  whenSignedOut(() => (link ? expired() : location.assign("/")));
  const token = new URLSearchParams(location.search).get("token");
  if (link && token) {
    session.set(token, null, null);
    history.replaceState(null, "", `/guest/${link[1]}`);
  }
  if (session.token) start();
  else if (link) expired();
  else toLogin();
});

// A guest's link lives until their stay is over; there is no sign-in page to send them to.
function expired() {
  show("elsewhere");
  $("live").hidden = true;
  $("elsewhere-text").textContent = "This link has expired. Open the latest email from the hotel, or ask the front desk.";
}

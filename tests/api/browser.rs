//! The web app in a real browser: headless Chromium driven over WebDriver (`webdriver.rs`)
//! against the real server, as the hotel's staff and a guest use it. Screenshots of each
//! screen go to `target/screenshots/`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, spawn_app},
    webdriver::Driver,
};

/// The cleanliness a board tile shows.
fn tile(number: &str) -> String {
    format!("return document.getElementById('room-{number}')?.dataset.cleanliness ?? null")
}

#[actix_web::test]
async fn two_front_desks_side_by_side_see_every_change_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@browser.test")
        .await;
    let driver = Driver::start().await;
    let (a, b) = driver.desktop_and_phone().await;
    // A wrong password is answered on the page.
    a.sign_in(&app.address, "desk@browser.test", "wrong password")
        .await;
    a.wait_for(
        "return document.getElementById('login-error').textContent.length > 0",
        json!(true),
    )
    .await;
    a.screenshot("login").await;
    a.sign_in(&app.address, "desk@browser.test", "password-for-tests")
        .await;
    b.sign_in(&app.address, "desk@browser.test", "password-for-tests")
        .await;
    for w in [&a, &b] {
        w.wait_for(&tile("101"), json!("dirty")).await;
        w.wait_for(
            "return document.getElementById('live').textContent",
            json!("Live"),
        )
        .await;
    }
    a.screenshot("front-desk-board").await;
    b.screenshot("front-desk-board-360px").await;
    // A change in one browser appears in the other.
    a.click("#room-101").await;
    a.click("[data-clean='clean']").await;
    b.wait_for(&tile("101"), json!("clean")).await;
    a.wait_for(&tile("101"), json!("clean")).await;
    a.screenshot("room-dialog").await;
    // A change made anywhere else (here: the API) appears in both.
    app.set_status(&pid, "102", json!({"cleanliness": "clean"}))
        .await;
    a.wait_for(&tile("102"), json!("clean")).await;
    b.wait_for(&tile("102"), json!("clean")).await;
    // The filter hides what does not match.
    b.eval("const s = document.getElementById('filter-status'); s.value = 'dirty'; s.dispatchEvent(new Event('change')); return true")
        .await;
    b.wait_for(
        "return document.getElementById('room-101').hidden",
        json!(true),
    )
    .await;
    for w in [&a, &b] {
        // The failed sign-in's 401 is the only thing the console may show.
        w.assert_no_console_errors_but(&["401"]).await;
    }
    a.close().await;
    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_housekeeper_finishes_a_cleaning_on_the_phone_and_the_front_desk_board_changes() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@hk.test").await;
    let hk = app.user_token(&pid, "housekeeper", "hk@hk.test").await;
    let hk_id = app.get_as(Some(&hk), "/api/v1/auth/me").await.body["user_id"].clone();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "departure", "room": "101", "assignee": hk_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let task = r.body["id"].as_str().unwrap().to_owned();
    let driver = Driver::start().await;
    let (desk, phone) = driver.desktop_and_phone().await;
    desk.sign_in(&app.address, "desk@hk.test", "password-for-tests")
        .await;
    phone
        .sign_in(&app.address, "hk@hk.test", "password-for-tests")
        .await;
    desk.wait_for(&tile("101"), json!("dirty")).await;
    let status = format!("return document.getElementById('task-{task}')?.dataset.status ?? null");
    phone.wait_for(&status, json!("assigned")).await;
    phone
        .wait_for(
            "return [window.innerWidth, document.documentElement.scrollWidth <= window.innerWidth]",
            json!([360, true]),
        )
        .await;
    phone.screenshot("housekeeper-queue").await;
    phone
        .click(&format!("#task-{task} [data-action='start']"))
        .await;
    phone.wait_for(&status, json!("in_progress")).await;
    phone
        .click(&format!("#task-{task} [data-action='complete']"))
        .await;
    // Done: it leaves the queue, and the front desk sees the room clean, live.
    phone.wait_for(&status, Value::Null).await;
    desk.wait_for(&tile("101"), json!("clean")).await;
    desk.screenshot("front-desk-after-cleaning").await;
    // A task given to the housekeeper elsewhere arrives in the queue by itself.
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "pickup", "room": "102", "assignee": hk_id, "rush": true}),
        )
        .await;
    let rush = r.body["id"].as_str().unwrap().to_owned();
    phone
        .wait_for(
            &format!("return document.getElementById('task-{rush}')?.dataset.status ?? null"),
            json!("assigned"),
        )
        .await;
    // Reporting a problem from the phone reaches maintenance as a repair: live, on the phone
    // of the maintenance worker on duty, who claims it.
    let mo = app.user_token(&pid, "maintenance", "mo@hk.test").await;
    let mo_id = app.get_as(Some(&mo), "/api/v1/auth/me").await.body["user_id"].clone();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/shifts"),
            &json!({"user_id": mo_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mo_phone = driver.browser(360, 740).await;
    mo_phone
        .sign_in(&app.address, "mo@hk.test", "password-for-tests")
        .await;
    mo_phone
        .wait_for(
            "return document.getElementById('queue-empty').hidden",
            json!(false),
        )
        .await;
    phone.type_into("#report-room", "102").await;
    phone.type_into("#report-note", "Dripping tap").await;
    phone.click("#report-submit").await;
    phone
        .wait_for(
            "return document.getElementById('report-msg').textContent",
            json!("Sent to maintenance."),
        )
        .await;
    let tasks = app
        .get(&format!("/api/v1/properties/{pid}/tasks"))
        .await
        .body["tasks"]
        .clone();
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["kind"] == "maintenance" && t["room_number"] == "102"),
        "{tasks}"
    );
    mo_phone
        .wait_for(
            "return document.querySelector('#open-tasks .task h2')?.textContent ?? null",
            json!("Room 102 · Repair"),
        )
        .await;
    mo_phone.screenshot("maintenance-open-repair").await;
    mo_phone.click("#open-tasks [data-action='claim']").await;
    mo_phone
        .wait_for(
            "return [document.querySelectorAll('#open-tasks .task').length, \
                     document.querySelector('#tasks .task')?.dataset.status ?? null]",
            json!([0, "assigned"]),
        )
        .await;
    for w in [&desk, &phone, &mo_phone] {
        w.assert_no_console_errors().await;
    }
    desk.close().await;
    phone.close().await;
    mo_phone.close().await;
    app.stop().await;
}

/// Books a stay of `gid` arriving on the business date for `nights` (two adults); its id.
async fn stay_today(app: &crate::helpers::TestApp, pid: &str, gid: &str, nights: u64) -> String {
    let day = crate::reservations::today(app, pid).await;
    let r = crate::reservations::book(
        app,
        pid,
        json!({"guest_id": gid, "room_type": "KING", "arrival": day.to_string(),
               "departure": (day + chrono::Days::new(nights)).to_string(), "adults": 2}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// WCAG 2 contrast of every visible text on the page against the background it is drawn on
/// (the nearest ancestor with an opaque background): answers the texts below AA (4.5:1, or 3:1
/// for large text) with their ratio.
const CONTRAST_FAILURES: &str = r#"
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const failures = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!n.textContent.trim() || !el.checkVisibility() || el.closest("option")) continue;
  const style = getComputedStyle(el);
  const [a, b] = [lum(rgb(style.color)), lum(background(el))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) failures.push(`${n.textContent.trim().slice(0, 30)}: ${ratio.toFixed(2)}`);
}
return failures;
"#;

/// Reads `script` as `return (script)`: a shorthand for the waits below.
fn js(expr: &str) -> String {
    format!("return ({expr}) ?? null")
}

#[actix_web::test]
async fn the_front_desk_assigns_checks_in_and_checks_out_from_the_day_lists_and_the_board_follows()
{
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@day.test").await;
    app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    let gid = crate::reservations::guest(&app, &pid).await;
    let rid = stay_today(&app, &pid, &gid, 1).await;
    let driver = Driver::start().await;
    let (desk, board) = driver.desktop_and_phone().await;
    desk.sign_in(&app.address, "desk@day.test", "password-for-tests")
        .await;
    board
        .sign_in(&app.address, "desk@day.test", "password-for-tests")
        .await;
    board.wait_for(&tile("101"), json!("clean")).await;
    desk.click("#tab-desk").await;
    // The arrival is listed by name; the room picker offers the clean room first.
    let row = format!("[data-rid=\"{rid}\"]");
    desk.wait_for(
        &js(&format!(
            "document.querySelector('#arrivals {row} strong')?.textContent"
        )),
        json!("Grace Hopper"),
    )
    .await;
    desk.wait_for(
        &js(&format!("document.getElementById('pick-{rid}')?.value")),
        json!("101"),
    )
    .await;
    desk.screenshot("front-desk-arrivals").await;
    desk.click(&format!("#arrivals {row} [data-action='assign']"))
        .await;
    // Assigned: the board (another window) shows room 101's arrival badge, by itself.
    board
        .wait_for(
            &js("document.querySelector('#room-101 .badge.arr')?.textContent"),
            json!("ARR"),
        )
        .await;
    desk.click(&format!("#arrivals {row} [data-action='check-in']"))
        .await;
    desk.wait_for(
        &js(&format!(
            "document.querySelector('#arrivals {row}')?.dataset.status"
        )),
        json!("in_house"),
    )
    .await;
    board
        .wait_for(
            &js("document.getElementById('room-101')?.classList.contains('occupied')"),
            json!(true),
        )
        .await;
    // The night passes (the night audit closes the day): the stay departs today and checks
    // out from the departures list; the room turns dirty and vacant on the board.
    let audit = app
        .post(&format!("/api/v1/properties/{pid}/night-audit"), &json!({}))
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    desk.reload().await;
    desk.click(&format!("#departures {row} [data-action='check-out']"))
        .await;
    desk.wait_for(
        &js(&format!(
            "document.querySelector('#departures {row}')?.dataset.status"
        )),
        json!("checked_out"),
    )
    .await;
    board.wait_for(&tile("101"), json!("dirty")).await;
    board
        .wait_for(
            &js("document.getElementById('room-101')?.classList.contains('occupied')"),
            json!(false),
        )
        .await;
    let stored = app.get(&format!("/api/v1/reservations/{rid}")).await;
    assert_eq!(stored.body["status"], "checked_out", "{}", stored.body);
    // The room dialog, from the keyboard: Enter on a tile opens it; block the room, then
    // release it.
    board.type_into("#room-102", "\u{E007}").await;
    board
        .wait_for(
            &js("document.getElementById('room-dialog').open"),
            json!(true),
        )
        .await;
    board.type_into("#block-reason", "Leaking radiator").await;
    board.click("#place-block").await;
    desk.go(&format!("{}/#board", app.address)).await;
    desk.wait_for(
        &js("document.querySelector('#room-102 .badge')?.textContent"),
        json!("OOO"),
    )
    .await;
    board.fits_width().await;
    board.screenshot("room-dialog-block-360px").await;
    board.click("#release-block").await;
    desk.wait_for(
        &js("document.querySelector('#room-102 .badge')?.textContent"),
        Value::Null,
    )
    .await;
    for w in [&desk, &board] {
        w.assert_no_console_errors().await;
    }
    desk.close().await;
    board.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_supervisor_assigns_a_task_and_it_arrives_on_the_housekeepers_phone() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "sup@hk.test").await;
    let hk = app.user_token(&pid, "housekeeper", "maria@hk.test").await;
    let hk_id = app.get_as(Some(&hk), "/api/v1/auth/me").await.body["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "departure", "room": "101"}),
        )
        .await;
    let task = r.body["id"].as_str().unwrap().to_owned();
    let driver = Driver::start().await;
    let (sup, phone) = driver.desktop_and_phone().await;
    sup.sign_in(&app.address, "sup@hk.test", "password-for-tests")
        .await;
    phone
        .sign_in(&app.address, "maria@hk.test", "password-for-tests")
        .await;
    sup.click("#tab-housekeeping").await;
    // Unassigned first, in its own lane.
    sup.wait_for(
        &js(&format!(
            "document.querySelector('#lane-none #sv-task-{task}') !== null"
        )),
        json!(true),
    )
    .await;
    phone
        .wait_for(
            "return document.getElementById('queue-empty').hidden",
            json!(false),
        )
        .await;
    sup.choose(&format!("#assign-{task}"), &hk_id).await;
    // Assigned: it moves to her lane here and arrives on her phone by itself.
    sup.wait_for(
        &js(&format!(
            "document.querySelector('#lane-{hk_id} #sv-task-{task}') !== null"
        )),
        json!(true),
    )
    .await;
    phone
        .wait_for(
            &js(&format!(
                "document.getElementById('task-{task}')?.dataset.status"
            )),
            json!("assigned"),
        )
        .await;
    sup.screenshot("housekeeping-supervisor").await;
    // Or by dragging a card onto a person's lane (the browser's own drag events).
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "check", "room": "102"}),
        )
        .await;
    let dragged = r.body["id"].as_str().unwrap().to_owned();
    sup.find(&format!("#lane-none #sv-task-{dragged}")).await;
    sup.eval(&format!(
        "const data = new DataTransfer(); \
         const card = document.getElementById('sv-task-{dragged}'); \
         const lane = document.getElementById('lane-{hk_id}'); \
         card.dispatchEvent(new DragEvent('dragstart', {{dataTransfer: data, bubbles: true}})); \
         lane.dispatchEvent(new DragEvent('dragover', {{dataTransfer: data, bubbles: true, cancelable: true}})); \
         lane.dispatchEvent(new DragEvent('drop', {{dataTransfer: data, bubbles: true, cancelable: true}})); \
         return true"
    ))
    .await;
    phone
        .wait_for(
            &js(&format!(
                "document.getElementById('task-{dragged}')?.dataset.status"
            )),
            json!("assigned"),
        )
        .await;
    // A task added from the board appears unassigned.
    sup.type_into("#new-task-room", "102").await;
    sup.choose("#new-task-kind", "pickup").await;
    sup.click("#new-task button[type=submit]").await;
    sup.wait_for(
        "return document.querySelectorAll('#lane-none .task').length",
        json!(1),
    )
    .await;
    // The phone works it: started on the phone, the supervisor sees it in progress.
    phone
        .click(&format!("#task-{task} [data-action='start']"))
        .await;
    sup.wait_for(
        &js(&format!(
            "document.getElementById('sv-task-{task}')?.dataset.status"
        )),
        json!("in_progress"),
    )
    .await;
    // Finished, it uses two bath towels of three: the supervisor is told they run low.
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/stock"),
            &json!({"item": "bath towels", "count": 3, "low_at": 2, "uses": {"departure": 2}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    sup.wait_for(
        "return document.getElementById('stock-low').hidden",
        json!(true),
    )
    .await;
    phone
        .click(&format!("#task-{task} [data-action='complete']"))
        .await;
    sup.wait_for(
        "return document.getElementById('stock-low').textContent",
        json!("Running low: bath towels (1 left)"),
    )
    .await;
    sup.screenshot("housekeeping-supervisor-stock-low").await;
    for w in [&sup, &phone] {
        w.assert_no_console_errors().await;
    }
    sup.close().await;
    phone.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn two_host_stands_run_the_floor_plan_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&[]).await;
    app.user_token(&pid, "restaurant", "host@venue.test").await;
    // T2 (1–2 seats), T4a and T4b (2–4).
    crate::venues::restaurant(&app, &pid).await;
    let driver = Driver::start().await;
    let (a, b) = driver.desktop_and_phone().await;
    for w in [&a, &b] {
        w.sign_in(&app.address, "host@venue.test", "password-for-tests")
            .await;
        w.wait_for(
            &js("document.getElementById('table-T2')?.dataset.state"),
            json!("available"),
        )
        .await;
    }
    let state = |t: &str| {
        js(&format!(
            "document.getElementById('table-{t}')?.dataset.state"
        ))
    };
    // A walk-in of two on one stand: the other sees the table occupied.
    a.type_into("#party-name", "Lovelace").await;
    a.click("#party-form [data-kind='walk-in']").await;
    b.wait_for(&state("T2"), json!("occupied")).await;
    // A party of four waits; the other stand seats them at T4a from the table's dialog.
    a.type_into("#party-name", "Babbage").await;
    a.eval("document.getElementById('party-size').value = '4'; return true")
        .await;
    a.click("#party-form [data-kind='waitlist']").await;
    // T4b is free: the quote says so in words, not "about 0 minutes".
    a.wait_for(
        "return document.getElementById('host-msg').textContent",
        json!("Babbage: a table is free now."),
    )
    .await;
    b.wait_for(
        "return document.querySelectorAll('#waitlist .row').length",
        json!(1),
    )
    .await;
    // The list keeps what the party was told, not a claim about the tables now.
    assert_eq!(
        b.eval("return document.querySelector('#waitlist .row .muted').textContent.includes('quoted no wait')")
            .await,
        json!(true)
    );
    b.fits_width().await;
    b.screenshot("host-stand-360px").await;
    b.click("#table-T4a").await;
    b.click("#table-actions [data-action='seat']").await;
    a.wait_for(&state("T4a"), json!("occupied")).await;
    a.wait_for(
        "return document.querySelectorAll('#waitlist .row').length",
        json!(0),
    )
    .await;
    a.screenshot("host-stand").await;
    // The first party leaves: clear, then bus; each step on both stands.
    b.click("#table-T2").await;
    b.click("#table-actions [data-action='clear']").await;
    a.wait_for(&state("T2"), json!("needs_bussing")).await;
    a.click("#table-T2").await;
    a.click("#table-actions [data-action='bus']").await;
    b.wait_for(&state("T2"), json!("available")).await;
    // A booking for later (the form's time: the next quarter hour after an hour from now)
    // lands in both stands' lists; the party arrives and is seated at its table.
    a.type_into("#party-name", "Hopper").await;
    a.eval("document.getElementById('party-size').value = '2'; return true")
        .await;
    a.click("#party-form [data-kind='booking']").await;
    let booked = "return document.querySelector('#bookings .row')?.dataset.status ?? null";
    b.wait_for(booked, json!("booked")).await;
    b.click("#bookings .row [data-action='arrive']").await;
    a.wait_for(booked, json!("arrived")).await;
    a.click("#bookings .row [data-action='seat']").await;
    b.wait_for(&state("T2"), json!("occupied")).await;
    b.wait_for(booked, Value::Null).await;
    for w in [&a, &b] {
        w.assert_no_console_errors().await;
    }
    a.close().await;
    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_guest_from_the_email_link_and_the_front_desk_chat_live() {
    use crate::email::{SmtpServer, app_with_smtp, text, wait_for};
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(Backend::Sqlite).await);
    let inbox = std::sync::Arc::default();
    let smtp = SmtpServer::start(0, std::sync::Arc::clone(&inbox)).await;
    let app = app_with_smtp(&db, smtp.url()).await;
    let pid = app.hotel(&["101"]).await;
    app.user_token(&pid, "front_desk", "desk@chat.test").await;
    let gid = crate::email::guest_with_email(&app, &pid, "ada@example.org").await;
    let rid = stay_today(&app, &pid, &gid, 2).await;
    // The confirmation email, through a real SMTP listener, carries the guest's link.
    let mail = text(&wait_for(&inbox, 1).await[0].data);
    let start = mail.find("/guest/").expect("a guest link");
    let link: String = mail[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(link.starts_with(&format!("/guest/{rid}?token=")), "{link}");
    let driver = Driver::start().await;
    let (desk, guest) = driver.desktop_and_phone().await;
    guest.go(&format!("{}{link}", app.address)).await;
    guest
        .wait_for(
            "return document.getElementById('guest-title').textContent",
            json!("Welcome, Ada Lovelace"),
        )
        .await;
    // The token left the address bar (and the history).
    assert_eq!(guest.eval("return location.search").await, json!(""));
    // The stay on the page follows the front desk: a room assigned shows by itself.
    let r = app
        .post(
            &format!("/api/v1/reservations/{rid}/assign"),
            &json!({"room": "101"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    guest
        .wait_for(
            "return document.querySelector('[data-fact=room]')?.textContent ?? null",
            json!("101"),
        )
        .await;
    guest
        .wait_for(
            "return document.getElementById('live').textContent",
            json!("Live"),
        )
        .await;
    guest
        .type_into("#guest-body", "Could we check in early?")
        .await;
    guest.click("#guest-send button[type=submit]").await;
    guest
        .wait_for(
            "return document.querySelectorAll('#guest-messages .msg.mine').length",
            json!(1),
        )
        .await;
    // The front desk's inbox lists it, live, unread.
    desk.sign_in(&app.address, "desk@chat.test", "password-for-tests")
        .await;
    desk.click("#tab-inbox").await;
    let conv = format!("#conv-{rid}");
    desk.wait_for(
        &js(&format!("document.querySelector('{conv}')?.dataset.status")),
        json!("todo"),
    )
    .await;
    desk.screenshot("staff-inbox").await;
    desk.click(&conv).await;
    desk.wait_for(
        "return document.querySelector('#staff-messages .msg.theirs .body')?.textContent ?? null",
        json!("Could we check in early?"),
    )
    .await;
    // Opened by staff: the guest sees their message read.
    guest
        .wait_for(
            "return document.querySelector('#guest-messages .msg.mine')?.dataset.status ?? null",
            json!("read"),
        )
        .await;
    // Typing shows on the other side.
    desk.type_into("#staff-body", "Of course").await;
    guest
        .wait_for(
            "return document.getElementById('guest-typing').textContent",
            json!("The front desk is typing…"),
        )
        .await;
    desk.type_into("#staff-body", ", from noon.").await;
    desk.click("#staff-send button[type=submit]").await;
    guest
        .wait_for(
            "return document.querySelector('#guest-messages .msg.theirs .body')?.textContent ?? null",
            json!("Of course, from noon."),
        )
        .await;
    // The guest's page is open: the reply is read, and staff see it so.
    desk.wait_for(
        "return document.querySelector('#staff-messages .msg.mine')?.dataset.status ?? null",
        json!("read"),
    )
    .await;
    // An internal note stays with staff.
    desk.click("#staff-note").await;
    desk.type_into("#staff-body", "VIP: upgrade if possible")
        .await;
    desk.click("#staff-send button[type=submit]").await;
    desk.wait_for(
        "return document.querySelectorAll('#staff-messages .msg.note').length",
        json!(1),
    )
    .await;
    // Waiting for the guest now; the status is set from the conversation.
    desk.wait_for(
        &js(&format!("document.querySelector('{conv}')?.dataset.status")),
        json!("waiting"),
    )
    .await;
    desk.choose("#chat-status", "done").await;
    desk.choose("#inbox-filter", "done").await;
    desk.wait_for(
        &js(&format!("document.querySelector('{conv}')?.dataset.status")),
        json!("done"),
    )
    .await;
    desk.screenshot("staff-conversation").await;
    guest.fits_width().await;
    guest.screenshot("guest-stay-and-chat").await;
    // A reload of the guest's page (token kept for the tab) resumes the same conversation.
    guest.go(&format!("{}/guest/{rid}", app.address)).await;
    guest
        .wait_for(
            "return document.querySelectorAll('#guest-messages .msg').length",
            json!(2),
        )
        .await;
    let all = guest
        .eval("return document.getElementById('guest-messages').textContent")
        .await;
    assert!(
        !all.as_str().unwrap().contains("VIP"),
        "a note reached the guest: {all}"
    );
    for w in [&desk, &guest] {
        w.assert_no_console_errors().await;
    }
    // A link whose token was tampered with shows nothing of the stay, only that it expired.
    let stranger = driver.browser(360, 740).await;
    let forged = format!("{}{}x", app.address, link);
    stranger.go(&forged).await;
    stranger
        .wait_for(
            "return document.getElementById('elsewhere-text').textContent.includes('expired')",
            json!(true),
        )
        .await;
    assert_eq!(
        stranger
            .eval("return document.getElementById('guest').hidden")
            .await,
        json!(true)
    );
    stranger.close().await;
    desk.close().await;
    guest.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn the_app_is_served_by_the_binary_with_a_strict_policy() {
    let app = spawn_app(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let rid = uuid::Uuid::new_v4();
    for (path, kind) in [
        ("/".to_owned(), "text/html"),
        (format!("/guest/{rid}"), "text/html"),
        ("/app.js".to_owned(), "text/javascript"),
        ("/core.js".to_owned(), "text/javascript"),
        ("/board.js".to_owned(), "text/javascript"),
        ("/desk.js".to_owned(), "text/javascript"),
        ("/housekeeping.js".to_owned(), "text/javascript"),
        ("/host.js".to_owned(), "text/javascript"),
        ("/chat.js".to_owned(), "text/javascript"),
        ("/app.css".to_owned(), "text/css"),
    ] {
        let r = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let policy = h["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        let tag = h["etag"].to_str().unwrap().to_owned();
        let body = r.bytes().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        // A browser that holds this version is told so without the file, with the same
        // headers (the policy still applies to what it shows from its cache).
        for known in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"other\", {tag}"),
            "*".to_owned(),
        ] {
            let again = http
                .get(format!("{}{path}", app.address))
                .header("if-none-match", &known)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{path} {known}");
            assert_eq!(again.headers()["etag"], tag.as_str(), "{path}");
            assert!(
                again.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("script-src 'self'"),
                "{path}"
            );
            assert!(again.bytes().await.unwrap().is_empty(), "{path}");
        }
        // Another version (an older binary's) gets the file.
        let other = http
            .get(format!("{}{path}", app.address))
            .header("if-none-match", "\"an-older-file\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{path}");
        assert_eq!(other.bytes().await.unwrap(), body, "{path}");
    }
    // Only the app's own files: anything else is the API's JSON 404.
    for path in [
        "/other.js",
        "/guest/",
        "/guest/not-a-reservation/more",
        "/web/app.js",
    ] {
        let r = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_dropped_connection_shows_reconnecting_and_the_board_resyncs_by_itself() {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(std::sync::Arc::clone(&db), |_| {}).await;
    let port = app.port;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@drop.test").await;
    let driver = Driver::start().await;
    let desk = driver.browser(1280, 900).await;
    desk.sign_in(&app.address, "desk@drop.test", "password-for-tests")
        .await;
    desk.wait_for(&tile("101"), json!("dirty")).await;
    let live = "return document.getElementById('live').textContent";
    desk.wait_for(live, json!("Live")).await;
    // The node goes away: the page says so instead of showing a stale board as live.
    app.stop().await;
    desk.wait_for(live, json!("Reconnecting…")).await;
    desk.screenshot("front-desk-reconnecting").await;
    // A node comes back at the same address — signing with another key, as an embedded node
    // does after every restart, so the page's access token is refused until renewed — and a
    // change is made there while the page is away or just back. The page renews its token,
    // reconnects, resubscribes, and its snapshot shows the change.
    let app = crate::helpers::spawn_app_with(db, |c| {
        c.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        c.auth.jwt_secret =
            secrecy::SecretString::from("another-secret-another-secret-another!".to_owned());
    })
    .await;
    app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    // The page retries with a jittered backoff of up to 5 s while the node is away.
    desk.wait_for_within(&tile("101"), json!("clean"), 30).await;
    desk.wait_for(live, json!("Live")).await;
    // And it is live again, not only resynced.
    app.set_status(&pid, "102", json!({"cleanliness": "clean"}))
        .await;
    desk.wait_for(&tile("102"), json!("clean")).await;
    // The refused WebSocket handshakes and HTTP requests while the node was down (the page asks
    // /auth/me after a refused handshake, which fails too when nobody listens) and the refused
    // token are the browser's own reports, not the app's; nothing else may appear.
    assert_eq!(
        desk.eval("return document.getElementById('login').hidden")
            .await,
        json!(true),
        "still signed in"
    );
    desk.assert_no_console_errors_but(&[
        "WebSocket connection to",
        "/api/v1/auth/me - Failed to load resource: net::ERR_CONNECTION_REFUSED",
        "401",
    ])
    .await;
    desk.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn an_expired_access_token_is_renewed_without_sending_anyone_to_the_sign_in_page() {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(db, |c| {
        c.auth.access_ttl = Duration::from_secs(2);
        c.ws.ping_interval = Duration::from_secs(1);
    })
    .await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@ttl.test").await;
    let driver = Driver::start().await;
    let desk = driver.browser(1280, 900).await;
    desk.sign_in(&app.address, "desk@ttl.test", "password-for-tests")
        .await;
    desk.wait_for(&tile("101"), json!("dirty")).await;
    // Several lifetimes of the access token pass: the socket is closed 4401 at least once.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let fresh = app
        .login(
            crate::helpers::ADMIN_EMAIL,
            crate::helpers::ADMIN_PASSWORD,
            None,
        )
        .await;
    let admin = fresh.body["access_token"].as_str().unwrap().to_owned();
    let r = app
        .post_as(
            Some(&admin),
            &format!("/api/v1/properties/{pid}/rooms/102/status"),
            &json!({"cleanliness": "clean"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Still signed in, still live, and its own changes still go through.
    desk.wait_for(&tile("102"), json!("clean")).await;
    assert_eq!(
        desk.eval("return document.getElementById('login').hidden")
            .await,
        json!(true)
    );
    desk.click("#room-101").await;
    desk.click("[data-clean='clean']").await;
    desk.wait_for(&tile("101"), json!("clean")).await;
    desk.assert_no_console_errors_but(&["401"]).await;
    desk.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn every_role_lands_on_its_screen_in_the_demo_hotel() {
    use bellhop::{demo, domain::Role};
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(db, |c| c.demo = true).await;
    let driver = Driver::start().await;
    // The section each role sees first, and the tabs it may switch to (with their sections).
    let desk_tabs = [
        ("board", "board"),
        ("desk", "desk"),
        ("housekeeping", "supervisor"),
        ("restaurant", "host"),
        ("inbox", "inbox"),
    ];
    let visible = "return [...document.querySelectorAll('main > section')].filter(s => !s.hidden).map(s => s.id)";
    for (role, landing, phone) in [
        (Role::FrontDesk, "board", false),
        (Role::Manager, "board", false),
        (Role::Admin, "board", false),
        (Role::Housekeeper, "queue", true),
        (Role::Maintenance, "queue", true),
        (Role::Restaurant, "host", false),
    ] {
        let w = if phone {
            driver.browser(360, 740).await
        } else {
            driver.browser(1280, 900).await
        };
        w.sign_in(&app.address, &demo::demo_email(role), demo::DEMO_PASSWORD)
            .await;
        w.wait_for(visible, json!([landing])).await;
        w.wait_for(
            "return document.getElementById('live').textContent",
            json!("Live"),
        )
        .await;
        let name = role.as_str().replace('_', "-");
        if role == Role::FrontDesk {
            // The contrast check itself catches faint text.
            let faint = w
                .eval(&format!(
                    "const p = document.createElement('p'); p.id = 'faint'; \
                     p.textContent = 'faint text'; p.style.color = '#bbbbbb'; \
                     document.getElementById('board').append(p); \
                     const found = (() => {{ {CONTRAST_FAILURES} }})(); p.remove(); return found"
                ))
                .await;
            assert_eq!(faint, json!(["faint text: 1.79"]));
            // From the keyboard alone: the skip link first, then on to the rooms; Enter opens
            // a room, Escape closes it and gives the focus back to the tile.
            let focused =
                "return document.activeElement?.id || document.activeElement?.textContent";
            w.wait_for(focused, json!("main")).await;
            w.reload().await;
            w.wait_for(
                "return document.querySelectorAll('#floors .room').length > 0",
                json!(true),
            )
            .await;
            w.key('\u{E004}').await;
            w.wait_for(focused, json!("Skip to content")).await;
            w.key('\u{E007}').await;
            w.wait_for(focused, json!("main")).await;
            let mut reached = false;
            for _ in 0..40 {
                w.key('\u{E004}').await;
                if w.eval(focused).await == json!("room-101") {
                    reached = true;
                    break;
                }
            }
            assert!(reached, "Tab never reached the first room");
            w.key('\u{E007}').await;
            w.wait_for(
                "return document.getElementById('room-dialog').open",
                json!(true),
            )
            .await;
            w.key('\u{E00C}').await;
            w.wait_for(
                "return document.getElementById('room-dialog').open",
                json!(false),
            )
            .await;
            w.wait_for(focused, json!("room-101")).await;
            // The whole hotel on the board, arrivals badged.
            w.wait_for(
                "return document.querySelectorAll('#floors .room').length",
                json!(120),
            )
            .await;
            w.wait_for(
                "return document.querySelectorAll('#floors .badge.arr').length",
                json!(2),
            )
            .await;
            for (tab, section) in desk_tabs {
                w.click(&format!("#tab-{tab}")).await;
                w.wait_for(visible, json!([section])).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                w.screenshot(&format!("demo-{name}-{tab}")).await;
                assert_eq!(
                    w.eval(CONTRAST_FAILURES).await,
                    json!([]),
                    "contrast on {tab}"
                );
            }
            // The same screens at 360 px: nothing scrolls sideways.
            let phone = driver.browser(360, 740).await;
            phone
                .sign_in(&app.address, &demo::demo_email(role), demo::DEMO_PASSWORD)
                .await;
            for (tab, section) in desk_tabs {
                phone.click(&format!("#tab-{tab}")).await;
                phone.wait_for(visible, json!([section])).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                phone.fits_width().await;
                phone.screenshot(&format!("demo-{name}-{tab}-360px")).await;
            }
            phone.assert_no_console_errors().await;
            phone.close().await;
        } else {
            if phone {
                w.fits_width().await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            w.screenshot(&format!("demo-{name}")).await;
            assert_eq!(
                w.eval(CONTRAST_FAILURES).await,
                json!([]),
                "contrast for {name}"
            );
        }
        w.assert_no_console_errors().await;
        w.close().await;
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_manager_with_totp_enrolled_signs_in_with_the_code() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101"]).await;
    let email = "totp@browser.test";
    let token = app.user_token(&pid, "manager", email).await;
    let enrol = app
        .post_as(Some(&token), "/api/v1/auth/totp/enroll", &json!({}))
        .await;
    assert_eq!(enrol.status, 200, "{}", enrol.body);
    let t = crate::auth::totp(enrol.body["secret"].as_str().unwrap(), email);
    let now = chrono::Utc::now().timestamp().unsigned_abs();
    let r = app
        .post_as(
            Some(&token),
            "/api/v1/auth/totp/verify",
            &json!({"code": t.generate(now).to_string()}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let driver = Driver::start().await;
    let w = driver.browser(1280, 900).await;
    w.sign_in(&app.address, email, "password-for-tests").await;
    // The password alone is not enough: the page asks for the code, on the same form.
    w.wait_for(
        "return document.getElementById('totp-row').hidden",
        json!(false),
    )
    .await;
    w.wait_for("return document.activeElement.id", json!("totp"))
        .await;
    w.screenshot("login-totp").await;
    // (The code that confirmed the enrolment is spent; the next step's is good.)
    w.type_into("#totp", &t.generate(now + 30).to_string())
        .await;
    w.click("#login-submit").await;
    w.wait_for(&tile("101"), json!("dirty")).await;
    w.assert_no_console_errors_but(&["401"]).await;
    w.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_long_conversation_opens_at_its_latest_messages_and_pages_back_to_the_first() {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(db, |c| c.actors.chat_burst = 100).await;
    let pid = app.hotel(&["101"]).await;
    app.user_token(&pid, "front_desk", "desk@long.test").await;
    let gid = crate::reservations::guest(&app, &pid).await;
    let rid = stay_today(&app, &pid, &gid, 2).await;
    for i in 1..=60 {
        let r = app
            .post(
                &format!("/api/v1/conversations/{rid}/messages"),
                &json!({"body": format!("Message {i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let driver = Driver::start().await;
    let desk = driver.browser(1280, 900).await;
    desk.sign_in(&app.address, "desk@long.test", "password-for-tests")
        .await;
    desk.click("#tab-inbox").await;
    desk.click(&format!("#conv-{rid}")).await;
    let bodies = "return [...document.querySelectorAll('#staff-messages .msg .body')].map(b => b.textContent)";
    let count = format!("{bodies}.length");
    desk.wait_for(&count, json!(50)).await;
    desk.click("#staff-earlier").await;
    desk.wait_for(&count, json!(60)).await;
    let all = desk.eval(bodies).await;
    let want: Vec<String> = (1..=60).map(|i| format!("Message {i}")).collect();
    assert_eq!(all, json!(want), "every message once, in order");
    assert_eq!(
        desk.eval("return document.getElementById('staff-earlier')")
            .await,
        Value::Null,
        "nothing earlier left"
    );
    desk.assert_no_console_errors().await;
    desk.close().await;
    app.stop().await;
}

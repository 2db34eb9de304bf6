//! Guest chat over HTTP and WebSocket: each guest reaches only their own conversation, notes
//! stay with staff, a reconnect resumes exactly, a retried send is stored once, the inbox
//! follows the conversation live, canned replies fill in the stay, and unread replies reach an
//! absent guest by email once.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{
    both,
    email::{SmtpServer, app_with_smtp, guest_with_email, text},
    helpers::{TestApp, TestDb, WsClient, spawn_app, spawn_app_with},
    reservations::{book, guest, today},
};

/// A reservation of `gid` (its conversation has the same id) and the guest's token for it.
pub async fn stay(app: &TestApp, pid: &str, gid: &str) -> (String, String) {
    let day = today(app, pid).await;
    let on = |d: u64| (day + chrono::Days::new(d)).to_string();
    let r = book(
        app,
        pid,
        json!({"guest_id": gid, "room_type": "KING", "arrival": on(1), "departure": on(3)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rid = r.body["id"].as_str().unwrap().to_owned();
    let token = crate::helpers::guest_token(&rid, pid);
    (rid, token)
}

/// Sends a message over HTTP with `token` (staff: the admin's); answers the reply.
async fn say(app: &TestApp, token: Option<&str>, cid: &str, body: Value) -> crate::helpers::Reply {
    let token = token.unwrap_or(&app.token);
    app.post_as(
        Some(token),
        &format!("/api/v1/conversations/{cid}/messages"),
        &body,
    )
    .await
}

/// The message bodies of a conversation's history as `token` sees it (every page).
async fn history(app: &TestApp, token: &str, cid: &str) -> Vec<Value> {
    let (mut after, mut all) = (0, Vec::new());
    loop {
        let r = app
            .get_as(
                Some(token),
                &format!("/api/v1/conversations/{cid}/messages?after={after}&limit=2"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        all.extend(r.body["messages"].as_array().unwrap().iter().cloned());
        after = r.body["next_after"].as_u64().unwrap();
        if !r.body["has_more"].as_bool().unwrap() {
            return all;
        }
    }
}

fn bodies(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect()
}

/// Every frame up to the answer of a ping (so everything committed before it was sent).
async fn drain(ws: &mut WsClient) -> Vec<Value> {
    ws.send(json!({"op": "ping", "id": "barrier"})).await;
    let mut frames = Vec::new();
    loop {
        let f = ws.next_json().await;
        if f["type"] == "pong" {
            return frames;
        }
        frames.push(f);
    }
}

/// The first frame `pick` accepts (others are skipped).
async fn next_where(ws: &mut WsClient, pick: impl Fn(&Value) -> bool) -> Value {
    loop {
        let f = ws.next_json().await;
        if pick(&f) {
            return f;
        }
    }
}

/// The state after the next event of `kind` on `topic`.
async fn state_after(ws: &mut WsClient, topic: &str, kind: &str) -> Value {
    let f = next_where(ws, |f| f["topic"] == topic && f["event"]["kind"] == kind).await;
    f["state"].clone()
}

fn message_bodies(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["event"]["kind"] == "message_sent")
        .map(|f| f["event"]["message"]["body"].as_str().unwrap().to_owned())
        .collect()
}

both!(
    guests_of_one_hotel_never_reach_each_others_conversation,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let (a, ta) = stay(&app, &pid, &guest(&app, &pid).await).await;
        let (b, tb) = stay(&app, &pid, &guest(&app, &pid).await).await;
        // Their own, and nothing else.
        let own = app
            .get_as(Some(&ta), &format!("/api/v1/conversations/{a}"))
            .await;
        assert_eq!(own.status, 200, "{}", own.body);
        assert_eq!(own.body["id"], a.as_str());
        assert!(own.body.get("status").is_none(), "the inbox is staff's");
        for path in [
            format!("/api/v1/conversations/{b}"),
            format!("/api/v1/conversations/{b}/messages"),
            format!("/api/v1/properties/{pid}/conversations"),
            format!("/api/v1/properties/{pid}/canned-replies"),
        ] {
            let r = app.get_as(Some(&ta), &path).await;
            assert_eq!(r.status, 403, "{path}: {}", r.body);
        }
        let r = say(&app, Some(&ta), &b, json!({"body": "hello B"})).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = app
            .post_as(
                Some(&ta),
                &format!("/api/v1/conversations/{b}/read"),
                &json!({"seq": 1}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        let unknown = uuid::Uuid::new_v4();
        let r = app
            .get(&format!("/api/v1/conversations/{unknown}/messages"))
            .await;
        assert_eq!((r.status, r.code()), (404, "conversation_not_found"));

        // Staff write a note and a reply; the guest sees the reply only.
        let r = say(
            &app,
            None,
            &a,
            json!({"body": "VIP, upgrade if possible", "kind": "note"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = say(
            &app,
            None,
            &a,
            json!({"body": "Welcome to the Test Hotel!"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let seen = history(&app, &ta, &a).await;
        assert_eq!(bodies(&seen), ["Welcome to the Test Hotel!"]);
        assert_eq!(
            seen[0]["author"],
            json!({"type": "staff"}),
            "no staff ids for guests"
        );
        let staff_sees = history(&app, &app.token, &a).await;
        assert_eq!(
            bodies(&staff_sees),
            ["VIP, upgrade if possible", "Welcome to the Test Hotel!"]
        );
        assert_eq!(
            staff_sees[0]["status"],
            Value::Null,
            "a note has no recipient"
        );
        let r = say(&app, Some(&ta), &a, json!({"body": "x", "kind": "note"})).await;
        assert_eq!((r.status, r.code()), (422, "note_by_guest"));

        // Over WebSocket: the neighbour's conversation and the inbox are refused.
        let mut ws = WsClient::connect(app.port, &ta).await;
        for topic in [format!("chat:{b}"), format!("inbox:{pid}")] {
            ws.send(json!({"op": "subscribe", "topic": topic, "id": 1}))
                .await;
            let f = ws.next_json().await;
            assert_eq!(
                (f["type"].as_str(), f["code"].as_str()),
                (Some("error"), Some("forbidden")),
                "{topic}: {f}"
            );
        }
        let f = ws.subscribe(&format!("chat:{a}")).await;
        let snapshot = f["snapshot"]["messages"].as_array().unwrap();
        assert_eq!(bodies(snapshot), ["Welcome to the Test Hotel!"]);
        let mut other = WsClient::connect(app.port, &tb).await;
        other
            .send(json!({"op": "subscribe", "topic": format!("chat:{a}"), "id": 1}))
            .await;
        assert_eq!(other.next_json().await["code"], "forbidden");
        // Live: a note never reaches the guest's socket, not even as bytes.
        say(
            &app,
            None,
            &a,
            json!({"body": "secret staff remark", "kind": "note"}),
        )
        .await;
        say(&app, None, &a, json!({"body": "Your room is ready"})).await;
        let frames = drain(&mut ws).await;
        assert_eq!(message_bodies(&frames), ["Your room is ready"]);
        let raw = serde_json::to_string(&frames).unwrap();
        let admin = app.get("/api/v1/auth/me").await.body["user_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            !raw.contains("secret staff remark") && !raw.contains(&admin),
            "no note, no staff id: {raw}"
        );
        for f in &frames {
            assert_eq!(f["topic"], format!("chat:{a}"), "the public name: {f}");
            assert!(
                f["state"].get("last_message").is_none(),
                "the guest view: {f}"
            );
        }
        app.stop().await;
    }
);

both!(
    a_reconnecting_guest_gets_exactly_what_it_missed,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let (a, ta) = stay(&app, &pid, &guest(&app, &pid).await).await;
        let topic = format!("chat:{a}");
        let mut ws = WsClient::connect(app.port, &ta).await;
        let f = ws.subscribe(&topic).await;
        assert_eq!(f["snapshot"]["messages"], json!([]));
        for text in ["m1", "m2"] {
            assert_eq!(say(&app, None, &a, json!({"body": text})).await.status, 201);
        }
        let frames = drain(&mut ws).await;
        assert_eq!(message_bodies(&frames), ["m1", "m2"]);
        let last = frames
            .iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .max()
            .unwrap();
        drop(ws);
        // Missed while away: three replies and a note.
        let mut missed = Vec::new();
        for body in [
            json!({"body": "m3"}),
            json!({"body": "n", "kind": "note"}),
            json!({"body": "m4"}),
            json!({"body": "m5"}),
        ] {
            let r = say(&app, None, &a, body.clone()).await;
            assert_eq!(r.status, 201, "{}", r.body);
            if body.get("kind").is_none() {
                missed.push(r.body["seq"].as_u64().unwrap());
            }
        }
        let mut ws = WsClient::connect(app.port, &ta).await;
        ws.send(json!({"op": "subscribe", "topic": topic, "id": "again", "since": last}))
            .await;
        let f = ws.next_json().await;
        assert_eq!(
            (f["type"].as_str(), f["id"].as_str()),
            (Some("recovered"), Some("again")),
            "{f}"
        );
        let events = f["events"].as_array().unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(
            seqs.iter().all(|s| *s > last),
            "nothing seen twice: {seqs:?}"
        );
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
        let got: Vec<(u64, &str)> = events
            .iter()
            .filter(|e| e["event"]["kind"] == "message_sent")
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["event"]["message"]["body"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(missed[0], "m3"), (missed[1], "m4"), (missed[2], "m5")],
            "exactly the missed messages, the note left out"
        );
        assert_eq!(f["state"]["unread"], 5, "m1..m5 are unread");
        // Live again, from where the recovery ended.
        let r = say(&app, None, &a, json!({"body": "m6"})).await;
        let m6 = r.body["seq"].as_u64().unwrap();
        let live = next_where(&mut ws, |f| f["event"]["kind"] == "message_sent").await;
        assert_eq!(
            (
                live["seq"].as_u64(),
                live["event"]["message"]["body"].as_str()
            ),
            (Some(m6), Some("m6"))
        );
        // Resuming from the start replays the whole visible stream; the guest's history pages
        // agree with it.
        let mut again = WsClient::connect(app.port, &ta).await;
        again
            .send(json!({"op": "subscribe", "topic": topic, "id": 1, "since": 0}))
            .await;
        let f = again.next_json().await;
        let replayed: Vec<&str> = f["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["kind"] == "message_sent")
            .map(|e| e["event"]["message"]["body"].as_str().unwrap())
            .collect();
        assert_eq!(replayed, ["m1", "m2", "m3", "m4", "m5", "m6"]);
        assert_eq!(bodies(&history(&app, &ta, &a).await), replayed);
        // A bad `since` is refused clearly.
        again
            .send(json!({"op": "subscribe", "topic": format!("chat:{}", uuid::Uuid::new_v4()), "id": 2, "since": "yesterday"}))
            .await;
        assert_eq!(again.next_json().await["code"], "bad_request");
        app.stop().await;
    }
);

both!(
    a_retried_send_is_stored_once_and_limits_hold,
    |b| async move {
        let db = Arc::new(TestDb::new(b).await);
        let app = spawn_app_with(db, |c| {
            c.actors.chat_burst = 5;
            c.actors.chat_per_minute = 1;
        })
        .await;
        let pid = app.hotel(&["101"]).await;
        let (a, ta) = stay(&app, &pid, &guest(&app, &pid).await).await;
        let topic = format!("chat:{a}");
        let mut ws = WsClient::connect(app.port, &ta).await;
        // Sending before subscribing is refused.
        ws.send(json!({"op": "send", "topic": topic, "body": "hi", "id": "k0"}))
            .await;
        assert_eq!(ws.next_json().await["code"], "not_subscribed");
        ws.subscribe(&topic).await;
        let send = json!({"op": "send", "topic": topic, "body": "Towels please", "id": "k-1"});
        ws.send(send.clone()).await;
        let first = next_where(&mut ws, |f| f["type"] == "sent").await;
        assert_eq!(
            (first["id"].as_str(), first["duplicate"].as_bool()),
            (Some("k-1"), Some(false))
        );
        // The client lost the answer and sends again: same seq, nothing stored.
        ws.send(send).await;
        let again = next_where(&mut ws, |f| f["type"] == "sent").await;
        assert_eq!(again["seq"], first["seq"]);
        assert_eq!(again["duplicate"], true);
        // Over HTTP, with the header.
        let post = |key: &'static str| {
            let req = app
                .http
                .post(format!("{}/api/v1/conversations/{a}/messages", app.address))
                .bearer_auth(&app.token)
                .header("Idempotency-Key", key)
                .json(&json!({"body": "On their way"}));
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (s1, r1) = post("r-1").await;
        let (s2, r2) = post("r-1").await;
        assert_eq!((s1, s2), (201, 200));
        assert_eq!(r1["seq"], r2["seq"]);
        assert_eq!(r2["duplicate"], true);
        assert_eq!(
            bodies(&history(&app, &app.token, &a).await),
            ["Towels please", "On their way"],
            "each stored once"
        );
        // Size limit, over both.
        let long = "x".repeat(4001);
        ws.send(json!({"op": "send", "topic": topic, "body": long, "id": "big"}))
            .await;
        let f = next_where(&mut ws, |f| f["type"] == "error").await;
        assert_eq!(
            (f["code"].as_str(), f["id"].as_str()),
            (Some("invalid_message"), Some("big"))
        );
        let r = say(&app, None, &a, json!({"body": long})).await;
        assert_eq!((r.status, r.code()), (422, "invalid_message"));
        // The guest has spent 3 of 5 sends; two more go, the next is refused.
        for k in ["k-2", "k-3"] {
            ws.send(json!({"op": "send", "topic": topic, "body": k, "id": k}))
                .await;
            assert_eq!(
                next_where(&mut ws, |f| f["type"] == "sent" || f["type"] == "error").await["type"],
                "sent"
            );
        }
        ws.send(json!({"op": "send", "topic": topic, "body": "k-4", "id": "k-4"}))
            .await;
        let f = next_where(&mut ws, |f| f["type"] == "sent" || f["type"] == "error").await;
        assert_eq!(f["code"], "rate_limited", "{f}");
        let r = say(&app, Some(&ta), &a, json!({"body": "again"})).await;
        assert_eq!((r.status, r.code()), (429, "rate_limited"));
        // Staff are counted apart.
        assert_eq!(
            say(&app, None, &a, json!({"body": "We are here"}))
                .await
                .status,
            201
        );
        app.stop().await;
    }
);

both!(the_inbox_follows_the_conversation_live, |b| async move {
    let app = spawn_app(b).await;
    let pid = app.hotel(&["101"]).await;
    let (a, ta) = stay(&app, &pid, &guest(&app, &pid).await).await;
    let desk = app.user_token(&pid, "front_desk", "desk@chat.test").await;
    let desk_id = app.get_as(Some(&desk), "/api/v1/auth/me").await.body["user_id"].clone();
    let inbox_topic = format!("inbox:{pid}");
    let mut staff = WsClient::connect(app.port, &desk).await;
    let f = staff.subscribe(&inbox_topic).await;
    assert_eq!(
        f["snapshot"]["conversations"],
        json!([]),
        "a conversation nobody wrote in is not in the inbox"
    );
    // A guest message: todo, unread for staff, previewed.
    assert_eq!(
        say(
            &app,
            Some(&ta),
            &a,
            json!({"body": "Can I check out late?"})
        )
        .await
        .status,
        201
    );
    let s = state_after(&mut staff, &inbox_topic, "message_sent").await;
    assert_eq!(
        (s["status"].as_str(), s["unread_staff"].as_u64()),
        (Some("todo"), Some(1))
    );
    assert_eq!(s["last_message"]["preview"], "Can I check out late?");
    let listed = app
        .get(&format!("/api/v1/properties/{pid}/conversations"))
        .await;
    assert_eq!(listed.body["conversations"][0]["id"], a.as_str());
    assert_eq!(listed.body["conversations"][0]["status"], "todo");
    // Seen on a staff device: delivered to staff.
    let d = state_after(&mut staff, &inbox_topic, "delivered").await;
    assert_eq!(d["delivered"]["staff"], s["version"]);
    // A reply: waiting, unread for the guest.
    let r = say(&app, Some(&desk), &a, json!({"body": "Until 1 pm is fine"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let reply_seq = r.body["seq"].as_u64().unwrap();
    let s = state_after(&mut staff, &inbox_topic, "message_sent").await;
    assert_eq!(
        (s["status"].as_str(), s["unread_guest"].as_u64()),
        (Some("waiting"), Some(1))
    );
    let set = |body: Value| {
        let app = &app;
        let a = a.clone();
        async move {
            app.post(&format!("/api/v1/conversations/{a}/status"), &body)
                .await
        }
    };
    assert_eq!(set(json!({"status": "done"})).await.status, 200);
    assert_eq!(
        state_after(&mut staff, &inbox_topic, "status_set").await["status"],
        "done"
    );
    assert_eq!(
        say(&app, Some(&ta), &a, json!({"body": "One more thing"}))
            .await
            .status,
        201
    );
    assert_eq!(
        state_after(&mut staff, &inbox_topic, "message_sent").await["status"],
        "todo",
        "done reopens"
    );
    let r = set(json!({"status": "follow_up"})).await;
    assert_eq!((r.status, r.code()), (422, "follow_up_date"));
    let day = today(&app, &pid).await.to_string();
    assert_eq!(
        set(json!({"status": "follow_up", "follow_up": day}))
            .await
            .status,
        200
    );
    let s = state_after(&mut staff, &inbox_topic, "status_set").await;
    assert_eq!(
        (s["status"].as_str(), s["follow_up"].as_str()),
        (Some("follow_up"), Some(day.as_str()))
    );
    assert_eq!(
        say(&app, Some(&ta), &a, json!({"body": "Hello?"}))
            .await
            .status,
        201
    );
    let s = state_after(&mut staff, &inbox_topic, "message_sent").await;
    assert_eq!(
        (s["status"].as_str(), &s["follow_up"]),
        (Some("todo"), &Value::Null)
    );
    // Assignment: to someone who chats.
    let hk = app.user_token(&pid, "housekeeper", "hk@chat.test").await;
    let hk_id = app.get_as(Some(&hk), "/api/v1/auth/me").await.body["user_id"].clone();
    let assign = |who: Value| {
        let app = &app;
        let a = a.clone();
        async move {
            app.post(
                &format!("/api/v1/conversations/{a}/assign"),
                &json!({"user_id": who}),
            )
            .await
        }
    };
    assert_eq!(assign(hk_id).await.code(), "validation_failed");
    assert_eq!(assign(desk_id.clone()).await.status, 200);
    assert_eq!(
        state_after(&mut staff, &inbox_topic, "assigned").await["assignee"],
        desk_id
    );
    // Read marks: the guest reads the reply, staff read the guest's messages.
    let mut guest_ws = WsClient::connect(app.port, &ta).await;
    guest_ws.subscribe(&format!("chat:{a}")).await;
    guest_ws
        .send(json!({"op": "read", "topic": format!("chat:{a}"), "seq": reply_seq, "id": "r"}))
        .await;
    assert_eq!(
        next_where(&mut guest_ws, |f| f["type"] == "ok").await["id"],
        "r"
    );
    let s = state_after(&mut staff, &inbox_topic, "read").await;
    assert_eq!(
        (s["unread_guest"].as_u64(), s["read"]["guest"].as_u64()),
        (Some(0), Some(reply_seq))
    );
    let latest = s["version"].as_u64().unwrap();
    let r = app
        .post_as(
            Some(&desk),
            &format!("/api/v1/conversations/{a}/read"),
            &json!({"seq": latest}),
        )
        .await;
    assert_eq!((r.status, r.body["unread_staff"].as_u64()), (200, Some(0)));
    let staff_view = history(&app, &desk, &a).await;
    let reply = staff_view.iter().find(|m| m["seq"] == reply_seq).unwrap();
    assert_eq!(reply["status"], "read");
    assert!(
        staff_view
            .iter()
            .filter(|m| m["author"]["type"] == "guest")
            .all(|m| m["status"] == "read")
    );
    // Typing reaches the other side only, and is not stored.
    let mut desk_chat = WsClient::connect(app.port, &desk).await;
    desk_chat.subscribe(&format!("chat:{a}")).await;
    guest_ws
        .send(json!({"op": "typing", "topic": format!("chat:{a}")}))
        .await;
    let t = next_where(&mut desk_chat, |f| f["type"] == "typing").await;
    assert_eq!(
        (t["side"].as_str(), t["topic"].as_str()),
        (Some("guest"), Some(format!("chat:{a}").as_str()))
    );
    assert!(t["expires_in_ms"].as_u64().unwrap() > 0);
    assert!(
        drain(&mut guest_ws)
            .await
            .iter()
            .all(|f| f["type"] != "typing"),
        "not echoed to the guest"
    );
    desk_chat
        .send(json!({"op": "typing", "topic": format!("chat:{a}")}))
        .await;
    assert_eq!(
        next_where(&mut guest_ws, |f| f["type"] == "typing").await["side"],
        "staff"
    );
    let before = history(&app, &desk, &a).await.len();
    assert_eq!(before, 4, "typing stores nothing");
    // Archived conversations leave the inbox list but stay a query away.
    assert_eq!(set(json!({"status": "archived"})).await.status, 200);
    let r = app
        .get(&format!("/api/v1/properties/{pid}/conversations"))
        .await;
    assert_eq!(r.body["conversations"], json!([]));
    let r = app
        .get(&format!(
            "/api/v1/properties/{pid}/conversations?status=archived"
        ))
        .await;
    assert_eq!(r.body["conversations"][0]["id"], a.as_str());
    app.stop().await;
});

both!(canned_replies_fill_in_the_stay, |b| async move {
    let app = spawn_app(b).await;
    let pid = app.hotel(&["101"]).await;
    let (a, ta) = stay(&app, &pid, &guest(&app, &pid).await).await;
    let r = app
        .post(
            &format!("/api/v1/reservations/{a}/assign"),
            &json!({"room": "101"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path = format!("/api/v1/properties/{pid}/canned-replies");
    let r = app
        .post(&path, &json!({"title": "Checkout", "body": "Dear {guest_name}, room {room} checks out at {checkout_time}."}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&path, &json!({"title": "Checkout", "body": "again"}))
        .await;
    assert_eq!((r.status, r.code()), (409, "title_taken"));
    let r = app
        .post(&path, &json!({"title": "Oops", "body": "Hi {name}"}))
        .await;
    assert_eq!((r.status, r.code()), (422, "unknown_variable"));
    let desk = app.user_token(&pid, "front_desk", "desk@canned.test").await;
    let r = app
        .post_as(Some(&desk), &path, &json!({"title": "Desk", "body": "x"}))
        .await;
    assert_eq!(r.status, 403, "managers keep the replies");
    assert_eq!(
        app.get_as(Some(&desk), &path).await.body["canned_replies"][0]["title"],
        "Checkout"
    );
    let r = say(&app, Some(&desk), &a, json!({"canned": id})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let departure = app.get(&format!("/api/v1/reservations/{a}")).await.body["stay"]["departure"]
        .as_str()
        .unwrap()
        .parse::<chrono::NaiveDate>()
        .unwrap();
    let seen = history(&app, &ta, &a).await;
    assert_eq!(
        bodies(&seen),
        [format!(
            "Dear Grace Hopper, room 101 checks out at 12:00 on {}.",
            departure.format("%A %-d %B")
        )
        .as_str()]
    );
    let r = say(&app, Some(&ta), &a, json!({"canned": id})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_body"),
        "guests write their own"
    );
    let r = app
        .post(
            &format!("{path}/{id}"),
            &json!({"title": "Check-out", "body": "See you, {guest_name}"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["title"].as_str()),
        (200, Some("Check-out"))
    );
    let r = app
        .http
        .delete(format!("{}{path}/{id}", app.address))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = say(&app, None, &a, json!({"canned": id})).await;
    assert_eq!((r.status, r.code()), (404, "canned_reply_not_found"));
    app.stop().await;
});

/// Emails the fallback sent (not the booking confirmations).
fn chat_emails(smtp: &SmtpServer, to: &str) -> Vec<String> {
    smtp.received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t == to) && m.data.contains("A message from"))
        .map(|m| text(&m.data))
        .collect()
}

async fn settle(smtp: &SmtpServer, to: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = chat_emails(smtp, to);
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} chat emails to {to}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both!(
    an_unread_reply_reaches_an_absent_guest_by_email_once,
    |b| async move {
        let db = Arc::new(TestDb::new(b).await);
        let smtp = SmtpServer::start(0, Arc::default()).await;
        let url = smtp.url();
        let app = spawn_app_with(Arc::clone(&db), move |c| {
            c.email.transport =
                bellhop::config::MailTransport::Smtp(secrecy::SecretString::from(url));
            c.email.public_url = "https://hotel.example".into();
            c.actors.chat_fallback_after = Duration::from_secs(1);
            c.actors.chat_fallback_scan = Duration::from_millis(100);
        })
        .await;
        let _ = app_with_smtp; // the same transport settings, plus the fallback's
        let pid = app.hotel(&["101", "102"]).await;
        let away = guest_with_email(&app, &pid, "away@example.org").await;
        let here = guest_with_email(&app, &pid, "here@example.org").await;
        let (a, _) = stay(&app, &pid, &away).await;
        let (b, tb) = stay(&app, &pid, &here).await;

        // Away: the reply goes by email after the delay, once.
        assert_eq!(
            say(
                &app,
                None,
                &a,
                json!({"body": "Your taxi is booked for 9 am"})
            )
            .await
            .status,
            201
        );
        assert_eq!(
            say(&app, None, &a, json!({"body": "internal", "kind": "note"}))
                .await
                .status,
            201
        );
        let mail = settle(&smtp, "away@example.org", 1).await;
        assert!(
            mail[0].contains("Your taxi is booked for 9 am"),
            "{}",
            mail[0]
        );
        assert!(!mail[0].contains("internal"), "notes stay inside");
        assert!(
            mail[0].contains(&format!("https://hotel.example/guest/{a}?token=")),
            "{}",
            mail[0]
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(chat_emails(&smtp, "away@example.org").len(), 1, "once");
        let trail = history(&app, &app.token, &a).await;
        assert_eq!(trail.len(), 2);

        // Here and reading: nothing to send.
        let mut ws = WsClient::connect(app.port, &tb).await;
        ws.subscribe(&format!("chat:{b}")).await;
        let r = say(&app, None, &b, json!({"body": "Breakfast is until 11"})).await;
        let seq = r.body["seq"].as_u64().unwrap();
        next_where(&mut ws, |f| f["event"]["kind"] == "message_sent").await;
        ws.send(json!({"op": "read", "topic": format!("chat:{b}"), "seq": seq}))
            .await;
        // Here but not reading: connected, so no email either.
        let r = say(&app, None, &b, json!({"body": "The spa opens at 8"})).await;
        assert_eq!(r.status, 201);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            chat_emails(&smtp, "here@example.org").is_empty(),
            "the guest is connected"
        );
        // Gone: the unread one (only) follows by email.
        drop(ws);
        let mail = settle(&smtp, "here@example.org", 1).await;
        assert!(mail[0].contains("The spa opens at 8"), "{}", mail[0]);
        assert!(!mail[0].contains("Breakfast"), "read in time: {}", mail[0]);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(chat_emails(&smtp, "here@example.org").len(), 1);
        app.stop().await;
    }
);

#[actix_web::test]
async fn a_conversation_spans_nodes_without_loss_or_duplicates() {
    let (_db, nodes) = crate::cluster::cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let pid = a.hotel(&["101"]).await;
    let (cid, token) = stay(a, &pid, &guest(a, &pid).await).await;
    let topic = format!("chat:{cid}");
    let mut staff = WsClient::connect(a.port, &a.token).await;
    staff.subscribe(&topic).await;
    let mut guest_ws = WsClient::connect(b.port, &token).await;
    guest_ws.subscribe(&topic).await;
    // The guest writes on node b; staff on node a hear it.
    guest_ws
        .send(json!({"op": "send", "topic": topic, "body": "Is the pool open?", "id": "g-1"}))
        .await;
    let sent = next_where(&mut guest_ws, |f| f["type"] == "sent").await;
    let heard = next_where(&mut staff, |f| f["event"]["kind"] == "message_sent").await;
    assert_eq!(heard["seq"], sent["seq"]);
    // The same send retried through the other node is recognised.
    let r = say(
        a,
        Some(&token),
        &cid,
        json!({"body": "Is the pool open?", "key": "g-1"}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["seq"]),
        (200, &sent["seq"]),
        "{}",
        r.body
    );
    // Staff answer on node a, with a note first; the guest on node b gets the answer only,
    // and their device's delivery mark travels back.
    say(
        a,
        None,
        &cid,
        json!({"body": "upsell cabana", "kind": "note"}),
    )
    .await;
    let reply = say(a, None, &cid, json!({"body": "Until 10 pm"})).await;
    let reply_seq = reply.body["seq"].as_u64().unwrap();
    let got = next_where(&mut guest_ws, |f| {
        f["event"]["kind"] == "message_sent" && f["event"]["message"]["author"]["type"] == "staff"
    })
    .await;
    assert_eq!(
        (
            got["seq"].as_u64(),
            got["event"]["message"]["body"].as_str()
        ),
        (Some(reply_seq), Some("Until 10 pm"))
    );
    let mark = next_where(&mut staff, |f| {
        f["event"]["kind"] == "delivered" && f["event"]["side"] == "guest"
    })
    .await;
    assert!(mark["event"]["up_to"].as_u64().unwrap() >= reply_seq);
    // Both nodes write at once (four staff members, within their send limits): every
    // message is stored once.
    let mut senders = vec![a.token.clone()];
    for n in 0..3 {
        senders.push(
            a.user_token(&pid, "front_desk", &format!("desk{n}@spans.test"))
                .await,
        );
    }
    let sends = (0..20).map(|i| {
        let node = if i % 2 == 0 { a } else { b };
        let (cid, sender) = (cid.clone(), senders[(i / 2) % 4].clone());
        async move {
            say(
                node,
                Some(&sender),
                &cid,
                json!({"body": format!("burst {i}")}),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(sends).await;
    let mut seqs: Vec<u64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["seq"].as_u64().unwrap()
        })
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 20, "twenty distinct seqs");
    let all = history(a, &a.token, &cid).await;
    assert_eq!(
        all.iter()
            .filter(|m| m["body"].as_str().unwrap().starts_with("burst"))
            .count(),
        20
    );
    let frames = drain(&mut guest_ws).await;
    let raw = serde_json::to_string(&frames).unwrap();
    assert!(
        !raw.contains("upsell cabana"),
        "no note crossed to the guest"
    );
    let live: Vec<u64> = frames
        .iter()
        .filter(|f| f["event"]["kind"] == "message_sent")
        .map(|f| f["seq"].as_u64().unwrap())
        .collect();
    // The guest's node may still be receiving the last few; what arrived came in order.
    assert!(live.windows(2).all(|w| w[0] < w[1]), "{live:?}");
    for n in nodes {
        n.stop().await;
    }
}

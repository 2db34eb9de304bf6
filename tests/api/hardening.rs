//! Bad input and faults answered promptly and the same on both backends (issue 18): text the
//! stores cannot hold, seqs past what a stream holds, slow bodies.

use serde_json::{Value, json};

use crate::{
    both,
    chat::stay,
    helpers::{TestApp, WsClient, spawn_app},
    reservations::guest,
};

/// POSTs raw JSON text (so it can hold `\u0000` escapes exactly as a client wrote them).
async fn post_text(app: &TestApp, token: Option<&str>, path: &str, body: String) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

both!(
    a_nul_character_is_refused_naming_its_field,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let gid = guest(&app, &pid).await;
        let (rid, guest_token) = stay(&app, &pid, &gid).await;
        let nul = r"x\u0000y";
        let cases: Vec<(Option<&str>, String, String, &str)> = vec![
            // No credentials needed to reach the login.
            (
                None,
                "/api/v1/auth/login".into(),
                format!(r#"{{"email":"{nul}@example.org","password":"p"}}"#),
                "email",
            ),
            (
                Some(&app.token),
                format!("/api/v1/properties/{pid}/guests"),
                format!(r#"{{"name":"{nul}","email":"a@example.org","preferences":["{nul}"]}}"#),
                "name",
            ),
            (
                Some(&app.token),
                format!("/api/v1/properties/{pid}/guests"),
                format!(r#"{{"name":"Ada","preferences":["quiet","{nul}"]}}"#),
                "preferences[1]",
            ),
            (
                Some(&guest_token),
                format!("/api/v1/conversations/{rid}/messages"),
                format!(r#"{{"body":"{nul}"}}"#),
                "body",
            ),
            (
                Some(&app.token),
                format!("/api/v1/conversations/{rid}/messages"),
                format!(r#"{{"body":"hello","key":"{nul}"}}"#),
                "key",
            ),
            (
                Some(&app.token),
                format!("/api/v1/properties/{pid}/rooms/101/blocks"),
                format!(
                    r#"{{"kind":"out_of_order","to":"2099-01-01T00:00:00Z","reason":"{nul}"}}"#
                ),
                "reason",
            ),
            (
                Some(&app.token),
                format!("/api/v1/properties/{pid}/tasks"),
                format!(r#"{{"kind":"pickup","room":"101","note":"{nul}"}}"#),
                "note",
            ),
            (
                Some(&app.token),
                format!("/api/v1/properties/{pid}/rooms"),
                format!(
                    r#"[{{"number":"201","floor":2,"room_type":"KING"}},{{"number":"2{nul}","floor":2,"room_type":"KING"}}]"#
                ),
                "[1].number",
            ),
        ];
        for (token, path, body, field) in cases {
            let (status, reply) = post_text(&app, token, &path, body).await;
            assert_eq!(status, 400, "{path}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid_body", "{path}: {reply}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("{field}:")),
                "{path}: {message}"
            );
        }
        // Nothing of it was stored: the guest list and the board are as they were.
        let guests = app.get(&format!("/api/v1/properties/{pid}/guests")).await;
        assert_eq!(
            guests.body["guests"].as_array().map(Vec::len),
            Some(1),
            "{}",
            guests.body
        );
        let board = app.get(&format!("/api/v1/properties/{pid}/rooms")).await;
        let rooms = board.body["rooms"]
            .as_array()
            .or(board.body.as_array())
            .map(Vec::len);
        assert_eq!(rooms, Some(2), "all or none: {}", board.body);
        // Queries and paths.
        for (path, code) in [
            (
                format!("/api/v1/properties/{pid}/guests?email=a%00b"),
                "invalid_query",
            ),
            (
                format!("/api/v1/properties/{pid}/audit?stream=room%00"),
                "invalid_query",
            ),
            (
                format!("/api/v1/properties/{pid}/rooms/1%000"),
                "bad_request",
            ),
        ] {
            let r = app.get(&path).await;
            assert_eq!((r.status, r.code()), (400, code), "{path}: {}", r.body);
        }
        // A guest's socket: an error frame naming the field, and the session lives on.
        let mut ws = WsClient::connect(app.port, &guest_token).await;
        let topic = format!("chat:{rid}");
        ws.send(json!({"op": "subscribe", "topic": topic, "id": 1}))
            .await;
        assert_eq!(ws.next_json().await["type"], "subscribed");
        ws.send_text(&format!(
            r#"{{"op":"send","topic":"{topic}","body":"{nul}","id":2}}"#
        ))
        .await;
        let e = ws.next_json().await;
        assert_eq!(
            (e["type"].as_str(), e["id"].as_i64()),
            (Some("error"), Some(2)),
            "{e}"
        );
        assert_eq!(e["code"], "bad_request");
        assert!(e["message"].as_str().unwrap().starts_with("body:"), "{e}");
        ws.send(json!({"op": "send", "topic": topic, "body": "fine", "id": 3}))
            .await;
        let sent = loop {
            let f = ws.next_json().await;
            if f["type"] == "sent" {
                break f;
            }
        };
        assert_eq!(sent["id"], 3);
        app.stop().await;
    }
);

both!(
    seqs_past_what_a_stream_holds_are_bad_requests,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let (rid, _) = stay(&app, &pid, &gid).await;
        let r = app
            .get(&format!(
                "/api/v1/conversations/{rid}/messages?after=9223372036854775808"
            ))
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_query"), "{}", r.body);
        let r = app
            .get(&format!(
                "/api/v1/conversations/{rid}/messages?after=9223372036854775807"
            ))
            .await;
        assert_eq!(r.status, 200, "the largest seq is fine: {}", r.body);
        let r = app
            .post(
                &format!("/api/v1/conversations/{rid}/read"),
                &json!({"seq": 9_223_372_036_854_775_808_u64}),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.body);
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms/101/status"),
                &json!({"cleanliness": "clean", "expected_version": u64::MAX}),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.body);
        let mut ws = app.ws().await;
        ws.send(
            json!({"op": "subscribe", "topic": format!("chat:{rid}"), "id": 1,
                   "since": 9_223_372_036_854_775_808_u64}),
        )
        .await;
        let e = ws.next_json().await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("bad_request")),
            "{e}"
        );
        ws.send(
            json!({"op": "read", "topic": format!("chat:{rid}"), "id": 2,
                   "seq": 9_223_372_036_854_775_808_u64}),
        )
        .await;
        let e = ws.next_json().await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("bad_request")),
            "{e}"
        );
        app.stop().await;
    }
);

#[actix_web::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let db =
        std::sync::Arc::new(crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(db, |c| {
        c.http.body_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let started = std::time::Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let body = br#"{"email":"a@example.org","password":"secret-password"}"#;
    tcp.write_all(
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // One byte every 300 ms, unauthenticated (the whole body would take 16 s), read
    // concurrently, so the answer is taken as soon as it comes.
    let (mut rx, mut tx) = tcp.into_split();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let mut next = body.iter();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(300));
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(6);
    loop {
        tokio::select! {
            n = rx.read(&mut chunk) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            },
            _ = tick.tick(), if answer.is_empty() => {
                if let Some(b) = next.next() {
                    let _ = tx.write_all(&[*b]).await;
                }
            }
            () = tokio::time::sleep_until(until) => panic!("no answer and no close"),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    app.stop().await;
}

#[actix_web::test]
async fn a_credential_holds_only_so_many_sockets() {
    let db =
        std::sync::Arc::new(crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(db, |c| {
        c.ws.max_per_guest = 3;
        c.ws.max_per_user = 4;
    })
    .await;
    let pid = app.hotel(&["101"]).await;
    let gid = guest(&app, &pid).await;
    let (_, guest_token) = stay(&app, &pid, &gid).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut ws = WsClient::connect(app.port, &guest_token).await;
        ws.send(json!({"op": "ping", "id": 1})).await;
        assert_eq!(ws.next_json().await["type"], "pong");
        held.push(ws);
    }
    // The fourth is accepted and closed at once with 4429.
    let mut extra = WsClient::connect(app.port, &guest_token).await;
    let close = extra.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4429, "{close:?}");
    // Closing one gives its place back (the node notices the close within a moment).
    let mut first = held.remove(0);
    first.ws.close(None).await.unwrap();
    let _ = first.expect_close().await;
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let mut ws = WsClient::connect(app.port, &guest_token).await;
        ws.send(json!({"op": "ping", "id": 2})).await;
        match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            futures_util::StreamExt::next(&mut ws.ws),
        )
        .await
        {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))) => {
                again = Some(ws);
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert!(again.is_some(), "a place came back");
    // Staff have their own, larger cap: the admin opens four while the guest holds three.
    let mut staff = Vec::new();
    for _ in 0..4 {
        let mut ws = app.ws().await;
        ws.send(json!({"op": "ping", "id": 3})).await;
        assert_eq!(ws.next_json().await["type"], "pong");
        staff.push(ws);
    }
    let mut fifth = app.ws().await;
    let close = fifth.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4429);
    app.stop().await;
}

/// A Redis server of the test's own (so it can be killed), on `port`; killed when dropped.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn own_redis(port: u16) -> OwnRedis {
    let mut child = OwnRedis(
        std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test.sh installs it)"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill();
    panic!("redis-server did not start");
}

/// The login failures Redis holds for accounts of this prefix.
fn shared_failures(port: u16, prefix: &str) -> Vec<String> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}login:acct:*"))
        .query(&mut conn)
        .unwrap()
}

#[actix_web::test]
async fn logins_stay_prompt_and_limited_while_redis_is_gone_and_share_again_when_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = own_redis(port);
    let prefix = format!("bellhop-test-{}:", uuid::Uuid::new_v4());
    let db =
        std::sync::Arc::new(crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite).await);
    let p = prefix.clone();
    let app = crate::helpers::spawn_app_with(db, move |c| {
        c.redis_url = Some(secrecy::SecretString::from(format!(
            "redis://127.0.0.1:{port}"
        )));
        c.redis_prefix = p;
        c.auth.login_limits.per_address = 1000;
    })
    .await;
    let http = reqwest::Client::builder()
        // The deadline of a prompt answer: with Redis gone a login used to take 9.5–19 s.
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .unwrap();
    let login = |email: String, password: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/v1/auth/login", app.address);
        async move {
            http.post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("an answer within the deadline")
                .status()
                .as_u16()
        }
    };
    for _ in 0..2 {
        assert_eq!(
            login("victim@example.org".into(), "wrong-password").await,
            401
        );
    }
    assert_eq!(shared_failures(port, &prefix).len(), 1, "counted in Redis");

    redis.kill();
    let admin = crate::helpers::ADMIN_EMAIL.to_owned();
    assert_eq!(
        login(admin.clone(), crate::helpers::ADMIN_PASSWORD).await,
        200
    );
    // The limit still holds, counted on the node: 5 failures per account.
    for _ in 0..3 {
        assert_eq!(
            login("victim@example.org".into(), "wrong-password").await,
            401
        );
    }
    assert_eq!(
        login("victim@example.org".into(), "wrong-password").await,
        429
    );
    assert_eq!(
        login(admin.clone(), crate::helpers::ADMIN_PASSWORD).await,
        200
    );

    // Redis is back (empty): failures are shared again once the node tries it again.
    let redis = own_redis(port);
    let mut shared = false;
    for i in 0..40 {
        assert_eq!(
            login(format!("other{i}@example.org"), "wrong-password").await,
            401
        );
        if !shared_failures(port, &prefix).is_empty() {
            shared = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(shared, "failures reach Redis again");
    app.stop().await;
    drop(redis);
}

#[actix_web::test]
async fn head_answers_like_get_and_secrets_are_never_cached() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    for path in ["/", "/app.js", "/app.css"] {
        let get = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        let len = get.bytes().await.unwrap().len();
        let head = app
            .http
            .head(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(
            head.headers()["content-length"],
            len.to_string().as_str(),
            "{path}"
        );
        assert_eq!(head.headers()["cache-control"], "no-cache", "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no body");
    }
    let login = app
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.headers()["cache-control"], "no-store");
    let body: Value = login.json().await.unwrap();
    let refresh = app
        .http
        .post(format!("{}/api/v1/auth/refresh", app.address))
        .json(&json!({"refresh_token": body["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200);
    assert_eq!(refresh.headers()["cache-control"], "no-store");
    let pid = app.hotel(&[]).await;
    let key = app
        .http
        .post(format!("{}/api/v1/properties/{pid}/api-keys", app.address))
        .bearer_auth(&app.token)
        .json(&json!({"name": "door locks", "permissions": ["room_read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 201);
    assert_eq!(key.headers()["cache-control"], "no-store");
    app.stop().await;
}

/// POSTs `body` as `token` with an `Idempotency-Key`; the status, the replay header and the body.
async fn post_keyed(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, bool, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    (
        r.status().as_u16(),
        replayed,
        r.json().await.unwrap_or(Value::Null),
    )
}

both!(
    a_retry_with_the_same_idempotency_key_answers_the_first_result,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let gid = guest(&app, &pid).await;
        let day = crate::reservations::today(&app, &pid).await;
        let on = |d: u64| (day + chrono::Days::new(d)).to_string();
        let booking =
            json!({"guest_id": gid, "room_type": "KING", "arrival": on(0), "departure": on(2)});
        let path = format!("/api/v1/properties/{pid}/reservations");
        let first = post_keyed(&app, &app.token, &path, "book-1", &booking).await;
        assert_eq!((first.0, first.1), (201, false), "{}", first.2);
        let again = post_keyed(&app, &app.token, &path, "book-1", &booking).await;
        assert_eq!((again.0, again.1), (201, true), "the first answer again");
        assert_eq!(again.2, first.2);
        let rid = first.2["id"].as_str().unwrap().to_owned();
        // Twice at once with a new key: one booking.
        let (a, c) = tokio::join!(
            post_keyed(&app, &app.token, &path, "book-2", &booking),
            post_keyed(&app, &app.token, &path, "book-2", &booking)
        );
        for r in [&a, &c] {
            assert!(matches!(r.0, 201 | 409), "{} {}", r.0, r.2);
            if r.0 == 409 {
                assert_eq!(r.2["error"]["code"], "request_in_progress");
            }
        }
        let day_list = app.get(&format!("{path}?date={}", on(0))).await;
        let booked = day_list.body["reservations"].as_array().unwrap().len();
        assert_eq!(booked, 2, "book-1 once, book-2 once: {}", day_list.body);

        // A check-in retried: the same answer, never illegal_transition.
        app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
            .await;
        let assign = post_keyed(
            &app,
            &app.token,
            &format!("/api/v1/reservations/{rid}/assign"),
            "as-1",
            &json!({"room": "101"}),
        )
        .await;
        assert_eq!(assign.0, 200, "{}", assign.2);
        let check_in = format!("/api/v1/reservations/{rid}/check-in");
        let first = post_keyed(&app, &app.token, &check_in, "in-1", &json!({})).await;
        assert_eq!(first.0, 200, "{}", first.2);
        let again = post_keyed(&app, &app.token, &check_in, "in-1", &json!({})).await;
        assert_eq!((again.0, again.1), (200, true));
        assert_eq!(again.2["version"], first.2["version"]);
        let plain = app.post(&check_in, &json!({})).await;
        assert_eq!(
            (plain.status, plain.code()),
            (422, "illegal_transition"),
            "without a key it is judged again"
        );
        // Keys are the caller's own: the same key from someone else is their own request.
        let desk = app
            .user_token(&pid, "front_desk", &format!("desk@{}.test", &pid[..8]))
            .await;
        let status = format!("/api/v1/properties/{pid}/rooms/102/status");
        let mine = post_keyed(
            &app,
            &app.token,
            &status,
            "st-1",
            &json!({"cleanliness": "clean"}),
        )
        .await;
        assert_eq!((mine.0, mine.2["version"].as_u64()), (200, Some(2)));
        let theirs = post_keyed(
            &app,
            &desk,
            &status,
            "st-1",
            &json!({"cleanliness": "dirty"}),
        )
        .await;
        assert_eq!(
            (theirs.0, theirs.1, theirs.2["version"].as_u64()),
            (200, false, Some(3)),
            "{}",
            theirs.2
        );
        // A refusal is not kept: once the state allows it, the same key acts.
        let refused = post_keyed(
            &app,
            &app.token,
            &status,
            "st-3",
            &json!({"cleanliness": "inspected"}),
        )
        .await;
        assert_eq!(refused.0, 422, "{}", refused.2);
        app.set_status(&pid, "102", json!({"cleanliness": "clean"}))
            .await;
        let later = post_keyed(
            &app,
            &app.token,
            &status,
            "st-3",
            &json!({"cleanliness": "inspected"}),
        )
        .await;
        assert_eq!(
            (later.0, later.1, later.2["cleanliness"].as_str()),
            (200, false, Some("inspected"))
        );
        // A bad key is refused.
        let bad = post_keyed(&app, &app.token, &status, "", &json!({"rush": true})).await;
        assert_eq!(bad.0, 400);

        // The key is written with the command's events: a command whose answer was lost (here: a
        // key recorded without an answer, as a commit whose outcome the node could not learn
        // leaves it) is not carried out again.
        let me = app.get("/api/v1/auth/me").await;
        let agent = format!("user:{}", me.body["user_id"].as_str().unwrap());
        if let Some(name) = app.db().pg_name() {
            crate::helpers::TestDb::admin_sql_on(
                name,
                &format!(
                    "INSERT INTO request_keys (agent, key, stream, seq, created_at) \
                 VALUES ('{agent}', 'lost-1', 'room:x', 7, now())"
                ),
            )
            .await;
            let r = post_keyed(&app, &app.token, &status, "lost-1", &json!({"rush": true})).await;
            assert_eq!((r.0, r.1), (200, true), "{}", r.2);
            assert_eq!(
                (r.2["replayed"].as_bool(), r.2["seq"].as_u64()),
                (Some(true), Some(7))
            );
            let room = app
                .get(&format!("/api/v1/properties/{pid}/rooms/102"))
                .await;
            assert_eq!(room.body["rush"], false, "not carried out again");
        }
        app.stop().await;
    }
);

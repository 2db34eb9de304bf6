//! Authentication flows: credentials, tokens, refresh rotation, TOTP, API keys, login limits
//! (also shared between nodes through a real Redis), token expiry on a live socket, audit.

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use bellhop::{auth::TokenIssuer, config::AuthConfig, domain::Role};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::{
    both,
    helpers::{Backend, TestApp, TestDb, WsClient, spawn_app, spawn_app_with},
};

fn issuer() -> TokenIssuer {
    TokenIssuer::new(
        &AuthConfig::for_tests("x", "y").jwt_secret,
        Duration::from_secs(900),
    )
}

async fn my_id(app: &TestApp, token: &str) -> uuid::Uuid {
    app.get_as(Some(token), "/api/v1/auth/me").await.body["user_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A user of `role` in a fresh property; returns (pid, email).
async fn staff(app: &TestApp, role: &str) -> (String, String) {
    let pid = app.hotel(&["101"]).await;
    let email = format!("{role}-{}@x.test", &pid[..8]);
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/users"),
            &json!({"email": email, "name": "Staff", "role": role, "password": "password-for-tests"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (pid, email)
}

#[actix_web::test]
async fn bad_credentials_and_bad_tokens_are_401_and_say_nothing_more() {
    let app = spawn_app(Backend::Sqlite).await;
    let (pid, email) = staff(&app, "housekeeper").await;
    let wrong = app.login(&email, "not-the-password", None).await;
    let unknown = app.login("nobody@x.test", "not-the-password", None).await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(
        wrong.body, unknown.body,
        "an unknown email reads like a wrong password"
    );

    let board = format!("/api/v1/properties/{pid}/rooms");
    let resp = app
        .http
        .get(format!("{}{board}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let r = app.get_as(Some("garbage"), &board).await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));

    // Raise the role inside a valid token: the signature no longer matches.
    let token = app.login(&email, "password-for-tests", None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    claims.as_object_mut().unwrap().remove("pid");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    let r = app.get_as(Some(&forged), "/api/v1/properties").await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));

    // Signed with another secret.
    let other = TokenIssuer::new(
        &secrecy::SecretString::from("another-secret-another-secret-another".to_owned()),
        Duration::from_secs(900),
    );
    let stranger = other
        .staff(uuid::Uuid::new_v4(), Role::Admin, None)
        .unwrap();
    assert_eq!(
        app.get_as(Some(&stranger), &board).await.code(),
        "invalid_token"
    );

    // Expired.
    let me = my_id(&app, &token).await;
    let pid_typed = bellhop::domain::PropertyId(pid.parse().unwrap());
    let old = issuer()
        .staff_expiring_at(
            me,
            Role::Housekeeper,
            Some(pid_typed),
            chrono::Utc::now().timestamp() - 120,
        )
        .unwrap();
    let r = app.get_as(Some(&old), &board).await;
    assert_eq!((r.status, r.code()), (401, "token_expired"));
    assert!(
        !r.body.to_string().contains(&old),
        "the token is not echoed"
    );
    app.stop().await;
}

both!(
    refresh_rotates_and_a_reused_token_revokes_the_session,
    |b| async move {
        let app = spawn_app(b).await;
        let (pid, email) = staff(&app, "front_desk").await;
        let login = app.login(&email, "password-for-tests", None).await;
        assert_eq!(login.status, 200);
        assert_eq!(login.body["token_type"], "Bearer");
        assert_eq!(login.body["user"]["role"], "front_desk");
        assert!(login.body["user"].get("password_hash").is_none());
        let r1 = login.body["refresh_token"].as_str().unwrap().to_owned();

        let refresh = |t: String| {
            let app = &app;
            async move {
                app.post_as(None, "/api/v1/auth/refresh", &json!({"refresh_token": t}))
                    .await
            }
        };
        let second = refresh(r1.clone()).await;
        assert_eq!(second.status, 200, "{}", second.body);
        let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2);
        let access = second.body["access_token"].as_str().unwrap();
        assert_eq!(
            app.get_as(Some(access), &format!("/api/v1/properties/{pid}/rooms"))
                .await
                .status,
            200
        );

        // The spent token comes back: someone replayed it. The whole session ends.
        let replay = refresh(r1).await;
        assert_eq!((replay.status, replay.code()), (401, "refresh_reused"));
        let after = refresh(r2).await;
        assert_eq!(
            (after.status, after.code()),
            (401, "invalid_refresh"),
            "the family is revoked"
        );

        // Logout ends a session; its refresh token is then worthless.
        let r3 = app.login(&email, "password-for-tests", None).await.body["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let out = app
            .post_as(None, "/api/v1/auth/logout", &json!({"refresh_token": r3}))
            .await;
        assert_eq!(out.status, 204);
        assert_eq!(refresh(r3.clone()).await.code(), "invalid_refresh");
        let again = app
            .post_as(None, "/api/v1/auth/logout", &json!({"refresh_token": r3}))
            .await;
        assert_eq!((again.status, again.code()), (401, "invalid_refresh"));
        assert_eq!(refresh("made-up".into()).await.code(), "invalid_refresh");
        app.stop().await;
    }
);

pub fn totp(secret: &str, email: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .with_account_name(email.to_owned())
        .with_issuer(Some("Bellhop"))
        .build()
        .unwrap()
}

both!(
    totp_once_enabled_is_required_and_each_code_works_once,
    |b| async move {
        let app = spawn_app(b).await;
        let (pid, email) = staff(&app, "manager").await;
        let pw = "password-for-tests";
        let token = app.login(&email, pw, None).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let enrol = app
            .post_as(Some(&token), "/api/v1/auth/totp/enroll", &json!({}))
            .await;
        assert_eq!(enrol.status, 200, "{}", enrol.body);
        let secret = enrol.body["secret"].as_str().unwrap().to_owned();
        assert!(
            enrol.body["otpauth_url"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        // Enrolled but not confirmed: not yet required.
        assert_eq!(app.login(&email, pw, None).await.status, 200);

        let t = totp(&secret, &email);
        let now = chrono::Utc::now().timestamp().unsigned_abs();
        let r = app
            .post_as(
                Some(&token),
                "/api/v1/auth/totp/verify",
                &json!({"code": "000000"}),
            )
            .await;
        let wrong_is_right = t.generate_current().to_string() == "000000";
        if !wrong_is_right {
            assert_eq!((r.status, r.code()), (401, "invalid_totp"));
        }
        let r = app
            .post_as(
                Some(&token),
                "/api/v1/auth/totp/verify",
                &json!({"code": t.generate(now).to_string()}),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);

        let r = app.login(&email, pw, None).await;
        assert_eq!((r.status, r.code()), (401, "totp_required"));
        // The code just used to confirm cannot log in: codes work once. The next step's can.
        let used = t.generate(now).to_string();
        assert_eq!(
            app.login(&email, pw, Some(&used)).await.code(),
            "invalid_totp"
        );
        let next = t.generate(now + 30).to_string();
        let r = app.login(&email, pw, Some(&next)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["user"]["totp_enabled"], true);
        let r = app.login(&email, pw, Some(&next)).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "invalid_totp"),
            "a replayed code is refused"
        );
        let r = app
            .post_as(Some(&token), "/api/v1/auth/totp/enroll", &json!({}))
            .await;
        assert_eq!((r.status, r.code()), (409, "totp_already_enabled"));

        // The secret never reaches the audit trail.
        let audit = app.get(&format!("/api/v1/properties/{pid}/audit")).await;
        assert_eq!(audit.status, 200);
        let text = audit.body.to_string();
        assert!(text.contains("totp_enabled"));
        assert!(!text.contains(&secret));
        app.stop().await;
    }
);

#[actix_web::test]
async fn api_keys_are_shown_once_scoped_and_revocable() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101"]).await;
    let other = app.hotel(&["101"]).await;
    let keys = format!("/api/v1/properties/{pid}/api-keys");
    let r = app
        .post(
            &keys,
            &json!({"name": "channel manager", "permissions": ["room_read"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body["key"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("bh_"));
    let listed = app.get(&keys).await;
    assert!(
        !listed.body.to_string().contains(&key),
        "the key is shown once"
    );
    assert_eq!(listed.body["api_keys"][0]["name"], "channel manager");

    assert_eq!(
        app.get_as(Some(&key), &format!("/api/v1/properties/{pid}/rooms"))
            .await
            .status,
        200
    );
    let r = app
        .post_as(
            Some(&key),
            &format!("/api/v1/properties/{pid}/rooms/101/status"),
            &json!({"rush": true}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = app
        .get_as(Some(&key), &format!("/api/v1/properties/{other}/rooms"))
        .await;
    assert_eq!((r.status, r.code()), (404, "property_not_found"));
    let r = app
        .post(
            &keys,
            &json!({"name": "too much", "permissions": ["user_manage"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = app
        .post(&keys, &json!({"name": "none", "permissions": []}))
        .await;
    assert_eq!(r.status, 422);

    let revoke = format!("{keys}/{id}/revoke");
    assert_eq!(app.post(&revoke, &json!({})).await.status, 204);
    let r = app
        .get_as(Some(&key), &format!("/api/v1/properties/{pid}/rooms"))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    let r = app.post(&revoke, &json!({})).await;
    assert_eq!((r.status, r.code()), (409, "already_revoked"));
    let r = app
        .post(
            &format!("{keys}/{}/revoke", uuid::Uuid::new_v4()),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[actix_web::test]
async fn login_is_limited_per_account_and_per_address() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, email) = staff(&app, "housekeeper").await;
    for _ in 0..5 {
        assert_eq!(app.login(&email, "wrong-password", None).await.status, 401);
    }
    // Even the right password is refused now.
    let resp = app
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": email, "password": "password-for-tests"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");

    // Another account from the same address may still log in...
    let (_, second) = staff(&app, "maintenance").await;
    assert_eq!(
        app.login(&second, "password-for-tests", None).await.status,
        200
    );
    // ...until the address has failed 20 times in the window.
    for i in 0..15 {
        let r = app
            .login(&format!("guess{i}@x.test"), "nope-nope-nope", None)
            .await;
        assert_eq!(r.status, 401);
    }
    let r = app.login(&second, "password-for-tests", None).await;
    assert_eq!((r.status, r.code()), (429, "too_many_attempts"));
    app.stop().await;
}

#[actix_web::test]
async fn login_limits_are_shared_between_nodes_through_redis() {
    let redis_url =
        std::env::var("BELLHOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bellhop-test-{}:", uuid::Uuid::new_v4());
    let db = Arc::new(TestDb::new(Backend::Postgres).await);
    let with_redis = |c: &mut bellhop::config::Config| {
        c.redis_url = Some(secrecy::SecretString::from(redis_url.clone()));
        c.redis_prefix = prefix.clone();
    };
    let a = spawn_app_with(Arc::clone(&db), with_redis).await;
    let b = spawn_app_with(Arc::clone(&db), with_redis).await;
    let (_, email) = staff(&a, "front_desk").await;
    for _ in 0..5 {
        assert_eq!(a.login(&email, "wrong-password", None).await.status, 401);
    }
    let r = b.login(&email, "password-for-tests", None).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_attempts"),
        "node B knows what node A saw"
    );

    // Clean up this test's keys.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !keys.is_empty(),
        "the counters live in Redis under the test's prefix"
    );
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    a.stop().await;
    b.stop().await;
}

#[actix_web::test]
async fn a_socket_closes_when_its_token_expires() {
    let db = Arc::new(TestDb::new(Backend::Sqlite).await);
    let app = spawn_app_with(db, |c| c.ws.ping_interval = Duration::from_millis(100)).await;
    let pid = app.hotel(&["101"]).await;
    let me = my_id(&app, &app.token).await;
    let short = issuer()
        .staff_expiring_at(me, Role::Admin, None, chrono::Utc::now().timestamp() + 2)
        .unwrap();
    let mut ws = WsClient::connect(app.port, &short).await;
    ws.subscribe(&format!("rooms:{pid}")).await;
    let close = ws.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::from(4401));
    app.stop().await;
}

both!(a_revoked_api_key_loses_its_open_sockets, |b| async move {
    let db = Arc::new(TestDb::new(b).await);
    let app = spawn_app_with(db, |c| c.ws.ping_interval = Duration::from_millis(100)).await;
    let pid = app.hotel(&["101"]).await;
    let keys = format!("/api/v1/properties/{pid}/api-keys");
    let mut sockets = Vec::new();
    for name in ["revoked", "kept"] {
        let k = app
            .post(&keys, &json!({"name": name, "permissions": ["room_read"]}))
            .await;
        assert_eq!(k.status, 201, "{}", k.body);
        let mut ws = WsClient::connect(app.port, k.body["key"].as_str().unwrap()).await;
        ws.subscribe(&format!("rooms:{pid}")).await;
        sockets.push((k.body["id"].as_str().unwrap().to_owned(), ws));
    }
    let r = app
        .post(&format!("{keys}/{}/revoke", sockets[0].0), &json!({}))
        .await;
    assert_eq!(r.status, 204);
    let close = sockets[0].1.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::from(4403));
    // The other key's socket still gets the board.
    app.set_status(&pid, "101", json!({"rush": true})).await;
    let f = sockets[1].1.next_json().await;
    assert_eq!(f["type"], "event", "{f}");
    app.stop().await;
});

both!(the_audit_trail_says_who_did_what, |b| async move {
    let app = spawn_app(b).await;
    let pid = app.hotel(&["101", "102"]).await;
    let hk = app
        .user_token(&pid, "housekeeper", &format!("hk-{}@x.test", &pid[..8]))
        .await;
    let hk_id = my_id(&app, &hk).await;
    let r = app
        .post_as(
            Some(&hk),
            &format!("/api/v1/properties/{pid}/rooms/101/status"),
            &json!({"cleanliness": "clean"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let room101 = r.body["stream"].as_str().unwrap().to_owned();
    app.set_status(&pid, "102", json!({"rush": true})).await;

    let audit = |q: String| {
        let app = &app;
        let pid = pid.clone();
        async move { app.get(&format!("/api/v1/properties/{pid}/audit{q}")).await }
    };
    let by_hk = audit(format!("?user={hk_id}")).await;
    assert_eq!(by_hk.status, 200);
    let events = by_hk.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", by_hk.body);
    assert_eq!(events[0]["actor"], format!("user:{hk_id}"));
    assert_eq!(events[0]["kind"], "cleanliness_changed");
    let of_room = audit(format!("?stream={room101}")).await.body;
    let kinds: Vec<&str> = of_room["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["room_created", "cleanliness_changed"]);
    let all = audit(String::new()).await.body;
    assert!(
        all["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "user_created")
    );
    let future = audit("?from=2099-01-01T00:00:00Z".into()).await.body;
    assert!(future["events"].as_array().unwrap().is_empty());
    let bad = audit("?from=yesterday".into()).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_query"));
    app.stop().await;
});

#[actix_web::test]
async fn the_demo_hotel_has_a_login_per_role() {
    let db = Arc::new(TestDb::new(Backend::Sqlite).await);
    let app = spawn_app_with(db, |c| c.demo = true).await;
    let pid = bellhop::demo::DEMO_PROPERTY_ID;
    for role in Role::ALL {
        let login = app
            .login(
                &bellhop::demo::demo_email(role),
                bellhop::demo::DEMO_PASSWORD,
                None,
            )
            .await;
        assert_eq!(login.status, 200, "{role:?}: {}", login.body);
        let token = login.body["access_token"].as_str().unwrap();
        let board = app
            .get_as(Some(token), &format!("/api/v1/properties/{pid}/rooms"))
            .await;
        let expected = if role == Role::Restaurant { 403 } else { 200 };
        assert_eq!(board.status, expected, "{role:?}");
        if expected == 200 {
            assert_eq!(board.body["rooms"].as_array().unwrap().len(), 120);
        }
    }
    // Every room type its rooms use is defined, with a name.
    let types = app
        .get(&format!("/api/v1/properties/{pid}/room-types"))
        .await;
    let listed = types.body["room_types"].as_array().unwrap();
    assert_eq!(listed.len(), 4, "{}", types.body);
    assert!(
        listed.iter().all(|t| t["defined"] == true),
        "{}",
        types.body
    );
    let rooms: u64 = listed.iter().map(|t| t["rooms"].as_u64().unwrap()).sum();
    assert_eq!(rooms, 120);
    // The restaurant staff's screen: the brasserie's floor plan.
    let login = app
        .login(
            &bellhop::demo::demo_email(Role::Restaurant),
            bellhop::demo::DEMO_PASSWORD,
            None,
        )
        .await;
    let host = login.body["access_token"].as_str().unwrap();
    let venues = app
        .get_as(Some(host), &format!("/api/v1/properties/{pid}/venues"))
        .await;
    assert_eq!(venues.status, 200, "{}", venues.body);
    let vid = venues.body["venues"][0]["id"].as_str().unwrap();
    let floor = app
        .get_as(
            Some(host),
            &format!("/api/v1/properties/{pid}/venues/{vid}"),
        )
        .await;
    assert_eq!(floor.body["tables"].as_array().unwrap().len(), 7);
    // A walk-in sits at a table; a hotel guest has dinner booked.
    let tables = floor.body["tables"].as_array().unwrap();
    assert_eq!(
        tables.iter().filter(|t| t["state"] == "occupied").count(),
        1
    );
    let parties = floor.body["parties"].as_array().unwrap();
    assert!(
        parties
            .iter()
            .any(|p| p["name"] == "Grace Hopper" && !p["reservation_id"].is_null()),
        "{parties:?}"
    );
    // The front desk's day: three in house, two arrivals with a room, two without.
    let day = app
        .get(&format!("/api/v1/properties/{pid}/reservations"))
        .await;
    let stays = day.body["reservations"].as_array().unwrap();
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| stays.iter().filter(|r| f(r)).count();
    assert_eq!(count(&|r| r["status"] == "in_house"), 3, "{stays:?}");
    assert_eq!(
        count(&|r| r["status"] == "confirmed" && !r["room"].is_null()),
        2
    );
    assert_eq!(
        count(&|r| r["status"] == "confirmed" && r["room"].is_null()),
        2
    );
    // Two guests wrote; six cleanings wait, two of them on the housekeeper's phone.
    let inbox = app
        .get(&format!("/api/v1/properties/{pid}/conversations"))
        .await;
    let todo: Vec<_> = inbox.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "todo")
        .collect();
    assert_eq!(todo.len(), 2, "{}", inbox.body);
    let tasks = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
    let tasks = tasks.body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 6);
    assert_eq!(tasks.iter().filter(|t| !t["assignee"].is_null()).count(), 2);
    assert_eq!(
        floor.body["venue"]["combinations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}

#[actix_web::test]
async fn nodes_starting_together_agree_on_the_configured_admin() {
    let db = Arc::new(TestDb::new(Backend::Postgres).await);
    // Two nodes build at once against an empty store, both told to ensure the same admin.
    let (a, b) = futures_util::join!(
        spawn_app_with(Arc::clone(&db), |_| {}),
        spawn_app_with(Arc::clone(&db), |_| {})
    );
    let r = a
        .login(
            crate::helpers::ADMIN_EMAIL,
            crate::helpers::ADMIN_PASSWORD,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        my_id(&a, &a.token).await,
        my_id(&b, &b.token).await,
        "one admin"
    );
    a.stop().await;
    b.stop().await;
}

//! Deny-by-default, walked exhaustively: every route and every topic, for every kind of
//! caller, against their own property and another one, with the exact status expected.
//!
//! The expected permissions are written out here, independently of `domain::access`, as the
//! README's matrix states them: the test checks the code against the spec, not against itself.

use std::time::Duration;

use bellhop::{auth::TokenIssuer, config::AuthConfig, domain::PropertyId};
use serde_json::{Value, json};

use crate::{
    both,
    helpers::{Backend, TestApp, WsClient, spawn_app},
};

/// The spec: which actions each caller may perform in its own property.
fn allowed(who: &str, action: &str) -> bool {
    let list: &[&str] = match who {
        "admin" => return true,
        "manager" => &[
            "property_read",
            "room_read",
            "room_create",
            "room_status",
            "room_block",
            "user_manage",
            "api_key_manage",
            "audit_read",
            "guest_manage",
            "room_type_manage",
            "reservation_read",
            "reservation_manage",
            "reservation_overbook",
            "night_audit",
            "property_settings",
            "task_manage",
            "task_work",
            "task_work_any",
            "chat",
            "canned_reply_manage",
            "venue_manage",
            "table_service",
        ],
        "front_desk" => &[
            "property_read",
            "room_read",
            "room_status",
            "room_block",
            "guest_manage",
            "reservation_read",
            "reservation_manage",
            "night_audit",
            "task_manage",
            "chat",
            "table_service",
        ],
        // `task_work` is on their own tasks only; `task_work_any` (anyone's) is a manager's.
        "housekeeper" => &["property_read", "room_read", "room_status", "task_work"],
        "maintenance" => &["property_read", "room_read", "room_block", "task_work"],
        "restaurant" => &["property_read", "table_service"],
        // The key below is granted exactly these.
        "api_key" => &["room_read", "room_status"],
        "guest" => &[],
        other => panic!("unknown caller {other}"),
    };
    // "a|b": either suffices (a route that serves supervisors and workers alike).
    action.split('|').any(|a| list.contains(&a))
}

const CALLERS: [&str; 10] = [
    "anonymous",
    "admin",
    "manager",
    "front_desk",
    "housekeeper",
    "maintenance",
    "restaurant",
    "api_key",
    "guest",
    "tampered",
];

/// One route: method, path (with `{pid}` and `{i}`: the caller's own fixtures), body, the
/// action it performs, and its success status.
struct Route {
    method: &'static str,
    path: &'static str,
    body: fn(usize) -> Value,
    action: &'static str,
    success: u16,
}

fn routes() -> Vec<Route> {
    let none = |_| Value::Null;
    vec![
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}",
            body: none,
            action: "property_read",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/rooms",
            body: none,
            action: "room_read",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/rooms/101",
            body: none,
            action: "room_read",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/rooms",
            body: |i| json!({"number": format!("N{i}"), "floor": 9, "room_type": "KING"}),
            action: "room_create",
            success: 201,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/rooms/S{i}/status",
            body: |_| json!({"rush": true}),
            action: "room_status",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/rooms/B{i}/blocks",
            body: |_| json!({"kind": "out_of_service", "to": "2099-01-01T00:00:00Z", "reason": "paint"}),
            action: "room_block",
            success: 201,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/rooms/R{i}/blocks/release",
            body: |_| json!({}),
            action: "room_block",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/users",
            body: |i| json!({"email": format!("new{i}-{}@x.test", uuid::Uuid::new_v4()), "name": "New", "role": "housekeeper", "password": "password-for-tests"}),
            action: "user_manage",
            success: 201,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/users",
            body: none,
            action: "user_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/api-keys",
            body: |_| json!({"name": "channel manager", "permissions": ["room_read"]}),
            action: "api_key_manage",
            success: 201,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/api-keys",
            body: none,
            action: "api_key_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/api-keys/{kid}/revoke",
            body: |_| json!({}),
            action: "api_key_manage",
            success: 204,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/audit",
            body: none,
            action: "audit_read",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/guests",
            body: |i| json!({"name": format!("Guest {i}"), "email": format!("g{i}@x.test")}),
            action: "guest_manage",
            success: 201,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/guests?email=g1@x.test",
            body: none,
            action: "guest_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/room-types",
            body: |i| json!({"code": format!("T{i}"), "name": "Type", "max_occupancy": 2}),
            action: "room_type_manage",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/room-types",
            body: none,
            action: "room_read",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/availability?from=2026-12-01&to=2026-12-03",
            body: none,
            action: "room_read",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/reservations",
            body: |_| json!({"guest_id": "{gid}", "room_type": "KING", "arrival": "2099-03-01", "departure": "2099-03-02"}),
            action: "reservation_manage",
            success: 201,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/reservations",
            body: none,
            action: "reservation_read",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/guests/{gid}",
            body: none,
            action: "guest_manage",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/reservations/{rid}",
            body: none,
            action: "reservation_read",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/reservations/{res}/confirm",
            body: |_| json!({}),
            action: "reservation_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/night-audit",
            body: |_| json!({}),
            action: "night_audit",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/tasks",
            body: |_| json!({"kind": "check", "room": "101"}),
            action: "task_manage",
            success: 201,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/tasks",
            body: none,
            action: "task_manage|task_work",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/shifts",
            body: |_| json!({"user_id": "{hk}", "floors": [1]}),
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/stock",
            body: |i| json!({"item": format!("soap {i}"), "count": 5, "low_at": 1}),
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/stock",
            body: none,
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/stock/linen/adjust",
            body: |_| json!({"delta": 1, "reason": "delivery"}),
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/shifts",
            body: none,
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/staff",
            body: none,
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/tasks/auto-assign",
            body: |_| json!({}),
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/tasks/{task}",
            body: none,
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/tasks/{task}/priority",
            body: |_| json!({"rush": true}),
            action: "task_manage",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/tasks/{task}/note",
            body: |_| json!({"text": "towels"}),
            action: "task_work_any",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/conversations",
            body: none,
            action: "chat",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/conversations/{rid}/messages",
            body: none,
            action: "chat",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/conversations/{rid}/messages",
            body: |i| json!({"body": format!("hello from caller {i}")}),
            action: "chat",
            success: 201,
        },
        Route {
            method: "POST",
            path: "/api/v1/conversations/{rid}/status",
            body: |i| json!({"status": "follow_up", "follow_up": format!("2099-01-{:02}", i + 1)}),
            action: "chat",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/canned-replies",
            body: none,
            action: "chat",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/canned-replies",
            body: |i| json!({"title": format!("Reply {i}"), "body": "Dear {guest_name}"}),
            action: "canned_reply_manage",
            success: 201,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/venues",
            body: |i| json!({"name": format!("Venue {i}"), "kind": "restaurant"}),
            action: "venue_manage",
            success: 201,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/venues",
            body: none,
            action: "table_service",
            success: 200,
        },
        Route {
            method: "GET",
            path: "/api/v1/properties/{pid}/venues/{vid}",
            body: none,
            action: "table_service",
            success: 200,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/venues/{vid}/tables",
            body: |i| json!({"name": format!("N{i}"), "max_seats": 2}),
            action: "venue_manage",
            success: 201,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/venues/{vid}/waitlist",
            body: |i| json!({"party_size": 2, "name": format!("Party {i}")}),
            action: "table_service",
            success: 201,
        },
        Route {
            method: "POST",
            path: "/api/v1/properties/{pid}/settings",
            body: |_| json!({"require_inspected": false}),
            action: "property_settings",
            success: 200,
        },
    ]
}

/// Two properties, each with the fixtures every caller needs, and one token per caller (all
/// homed in property 0; the admin belongs to the deployment).
struct World {
    app: TestApp,
    pids: [String; 2],
    /// Per property, per caller: an API key id that caller may try to revoke.
    keys: [Vec<String>; 2],
    /// Per property: a guest and a reservation of theirs.
    guests: [String; 2],
    stays: [String; 2],
    /// Per property, per caller: a tentative reservation to confirm.
    tentative: [Vec<String>; 2],
    /// Per property, per caller: an unassigned task.
    tasks: [Vec<String>; 2],
    /// Per property: a housekeeper (whose queue topic others may or may not follow).
    housekeepers: [String; 2],
    /// Per property: a venue with one table.
    venues: [String; 2],
    tokens: Vec<(&'static str, Option<String>)>,
}

async fn world(b: Backend) -> World {
    let app = spawn_app(b).await;
    let mut pids = Vec::new();
    let mut keys = Vec::new();
    let (mut guests, mut stays, mut tentative) = (Vec::new(), Vec::new(), Vec::new());
    let (mut task_ids, mut housekeepers) = (Vec::new(), Vec::new());
    let mut venues = Vec::new();
    for _ in 0..2 {
        let pid = app.hotel(&["101"]).await;
        let v = app
            .post(
                &format!("/api/v1/properties/{pid}/venues"),
                &json!({"name": "Bar", "kind": "bar"}),
            )
            .await;
        assert_eq!(v.status, 201, "{}", v.body);
        let vid = v.body["id"].as_str().unwrap().to_owned();
        let t = app
            .post(
                &format!("/api/v1/properties/{pid}/venues/{vid}/tables"),
                &json!({"name": "B1", "max_seats": 4}),
            )
            .await;
        assert_eq!(t.status, 201, "{}", t.body);
        venues.push(vid);
        // Per caller i: a room to change (S), to block (B), a blocked one to release (R).
        let mut rooms = Vec::new();
        for i in 0..CALLERS.len() {
            for prefix in ["S", "B", "R"] {
                rooms.push(
                    json!({"number": format!("{prefix}{i}"), "floor": 1, "room_type": "KING"}),
                );
            }
        }
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms"),
                &Value::Array(rooms),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        for i in 0..CALLERS.len() {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/rooms/R{i}/blocks"),
                    &json!({"kind": "out_of_order", "to": "2099-01-01T00:00:00Z", "reason": "x"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let mut ids = Vec::new();
        for i in 0..CALLERS.len() {
            let k = app
                .post(
                    &format!("/api/v1/properties/{pid}/api-keys"),
                    &json!({"name": format!("key {i}"), "permissions": ["room_read"]}),
                )
                .await;
            assert_eq!(k.status, 201, "{}", k.body);
            ids.push(k.body["id"].as_str().unwrap().to_owned());
        }
        keys.push(ids);
        let g = app
            .post(
                &format!("/api/v1/properties/{pid}/guests"),
                &json!({"name": "Guest"}),
            )
            .await;
        assert_eq!(g.status, 201, "{}", g.body);
        let gid = g.body["id"].as_str().unwrap().to_owned();
        let mut holds = Vec::new();
        for _ in 0..=CALLERS.len() {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/reservations"),
                    &json!({"guest_id": gid, "room_type": "KING", "arrival": "2099-02-01",
                            "departure": "2099-02-02", "tentative": true}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            holds.push(r.body["id"].as_str().unwrap().to_owned());
        }
        stays.push(holds.pop().unwrap());
        tentative.push(holds);
        let mut own = Vec::new();
        for _ in 0..CALLERS.len() {
            let t = app
                .post(
                    &format!("/api/v1/properties/{pid}/tasks"),
                    &json!({"kind": "pickup", "room": "101"}),
                )
                .await;
            assert_eq!(t.status, 201, "{}", t.body);
            own.push(t.body["id"].as_str().unwrap().to_owned());
        }
        task_ids.push(own);
        let hk = app
            .post(
                &format!("/api/v1/properties/{pid}/users"),
                &json!({"email": format!("queue@{}.test", &pid[..8]), "name": "Q",
                        "role": "housekeeper", "password": "password-for-tests"}),
            )
            .await;
        assert_eq!(hk.status, 201, "{}", hk.body);
        housekeepers.push(hk.body["id"].as_str().unwrap().to_owned());
        let linen = app
            .post(
                &format!("/api/v1/properties/{pid}/stock"),
                &json!({"item": "linen", "count": 10}),
            )
            .await;
        assert_eq!(linen.status, 200, "{}", linen.body);
        guests.push(gid);
        pids.push(pid);
    }
    let home = &pids[0];
    let mut tokens: Vec<(&str, Option<String>)> =
        vec![("anonymous", None), ("admin", Some(app.token.clone()))];
    for role in [
        "manager",
        "front_desk",
        "housekeeper",
        "maintenance",
        "restaurant",
    ] {
        let email = format!("{role}@{}.test", &home[..8]);
        tokens.push((role, Some(app.user_token(home, role, &email).await)));
    }
    let key = app
        .post(
            &format!("/api/v1/properties/{home}/api-keys"),
            &json!({"name": "pms sync", "permissions": ["room_read", "room_status"]}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    tokens.push((
        "api_key",
        Some(key.body["key"].as_str().unwrap().to_owned()),
    ));
    let issuer = TokenIssuer::new(
        &AuthConfig::for_tests("x", "y").jwt_secret,
        Duration::from_secs(900),
    );
    let guest = issuer
        .guest(
            uuid::Uuid::new_v4(),
            PropertyId(home.parse().unwrap()),
            Duration::from_secs(600),
        )
        .unwrap();
    tokens.push(("guest", Some(guest)));
    // The admin's token with its signature bytes altered: must count for nothing.
    let mut tampered = app.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    tokens.push(("tampered", Some(tampered)));
    assert_eq!(tokens.iter().map(|t| t.0).collect::<Vec<_>>(), CALLERS);
    World {
        app,
        pids: [pids[0].clone(), pids[1].clone()],
        keys: [keys[0].clone(), keys[1].clone()],
        guests: [guests[0].clone(), guests[1].clone()],
        stays: [stays[0].clone(), stays[1].clone()],
        tentative: [tentative[0].clone(), tentative[1].clone()],
        tasks: [task_ids[0].clone(), task_ids[1].clone()],
        housekeepers: [housekeepers[0].clone(), housekeepers[1].clone()],
        venues: [venues[0].clone(), venues[1].clone()],
        tokens,
    }
}

both!(every_route_answers_every_caller_exactly, |b| async move {
    let w = world(b).await;
    let mut failures = Vec::new();
    for (i, (who, token)) in w.tokens.iter().enumerate() {
        for (p, pid) in w.pids.iter().enumerate() {
            for route in routes() {
                let path = route
                    .path
                    .replace("{pid}", pid)
                    .replace("{i}", &i.to_string())
                    .replace("{kid}", &w.keys[p][i])
                    .replace("{gid}", &w.guests[p])
                    .replace("{rid}", &w.stays[p])
                    .replace("{res}", &w.tentative[p][i])
                    .replace("{task}", &w.tasks[p][i])
                    .replace("{vid}", &w.venues[p]);
                let body: Value = serde_json::from_str(
                    &(route.body)(i)
                        .to_string()
                        .replace("{gid}", &w.guests[p])
                        .replace("{hk}", &w.housekeepers[p]),
                )
                .unwrap();
                let reply = match route.method {
                    "GET" => w.app.get_as(token.as_deref(), &path).await,
                    _ => w.app.post_as(token.as_deref(), &path, &body).await,
                };
                let expected = match *who {
                    "anonymous" | "tampered" => 401,
                    "admin" => route.success,
                    _ if p == 1 => 404,
                    _ if allowed(who, route.action) => route.success,
                    _ => 403,
                };
                let status = reply.status;
                if status != expected {
                    failures.push(format!(
                        "{who} {} {path} (property {p}): {status} != {expected} {}",
                        route.method, reply.body
                    ));
                }
                if expected == 404 {
                    let nonexistent = if path.starts_with("/api/v1/reservations/") {
                        "reservation_not_found"
                    } else if path.starts_with("/api/v1/tasks/") {
                        "task_not_found"
                    } else if path.starts_with("/api/v1/conversations/") {
                        "conversation_not_found"
                    } else {
                        "property_not_found"
                    };
                    assert_eq!(
                        reply.code(),
                        nonexistent,
                        "another hotel reads as nonexistent"
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Creating a property is the admin's alone.
    for (who, token) in &w.tokens {
        let r = w
            .app
            .post_as(
                token.as_deref(),
                "/api/v1/properties",
                &json!({"name": "New"}),
            )
            .await;
        let expected = match *who {
            "anonymous" | "tampered" => 401,
            "admin" => 201,
            _ => 403,
        };
        assert_eq!(r.status, expected, "{who} creating a property: {}", r.body);
    }
    // Listing properties shows each caller only what it may see.
    for (who, token) in &w.tokens {
        let r = w.app.get_as(token.as_deref(), "/api/v1/properties").await;
        if matches!(*who, "anonymous" | "tampered") {
            assert_eq!(r.status, 401);
            continue;
        }
        // The list follows property_read, like GET /properties/<pid>.
        if !allowed(who, "property_read") {
            assert_eq!(
                (r.status, r.code()),
                (403, "forbidden"),
                "{who}: {}",
                r.body
            );
            continue;
        }
        let ids: Vec<&str> = r.body["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&w.pids[0].as_str()), "{who}");
        assert_eq!(ids.contains(&w.pids[1].as_str()), *who == "admin", "{who}");
    }
    w.app.stop().await;
});

both!(
    every_topic_answers_every_caller_exactly_and_leaks_nothing,
    |b| async move {
        let w = world(b).await;
        for (who, token) in &w.tokens {
            let Some(token) = token else {
                // No credential, no upgrade.
                let r = w.app.get_as(None, "/ws").await;
                assert_eq!((r.status, r.code()), (401, "unauthenticated"));
                continue;
            };
            if *who == "tampered" {
                let err = tokio_tungstenite::connect_async(format!(
                    "ws://127.0.0.1:{}/ws?token={token}",
                    w.app.port
                ))
                .await;
                assert!(err.is_err(), "a tampered token gets no socket");
                continue;
            }
            let mut ws = WsClient::connect(w.app.port, token).await;
            for (p, pid) in w.pids.iter().enumerate() {
                for (topic, action) in [
                    (format!("rooms:{pid}"), "room_read"),
                    (format!("room:{pid}:101"), "room_read"),
                    (format!("reservations:{pid}"), "reservation_read"),
                    (format!("availability:{pid}"), "reservation_read"),
                    (format!("reservation:{}", w.stays[p]), "reservation_read"),
                    (format!("tasks:{pid}"), "task_manage"),
                    // Someone else's queue is supervision.
                    (format!("tasks:user:{}", w.housekeepers[p]), "task_manage"),
                    (format!("inbox:{pid}"), "chat"),
                    (format!("tables:{}", w.venues[p]), "table_service"),
                    // A reservation's conversation has its id.
                    (format!("chat:{}", w.stays[p]), "chat"),
                ] {
                    ws.send(json!({"op": "subscribe", "topic": topic, "id": topic}))
                        .await;
                    let f = ws.next_json().await;
                    let expected = match *who {
                        "admin" => "subscribed",
                        _ if p == 1 => "not_found",
                        _ if allowed(who, action) => "subscribed",
                        _ => "forbidden",
                    };
                    let got = if f["type"] == "subscribed" {
                        "subscribed"
                    } else {
                        f["code"].as_str().unwrap()
                    };
                    assert_eq!(got, expected, "{who} subscribing to {topic}: {f}");
                }
            }
            // Changes in both hotels now. Whatever arrives before the pong must come from a topic
            // this caller was allowed, i.e. from its own hotel (or any, for the admin).
            for pid in &w.pids {
                w.app.set_status(pid, "101", json!({"rush": true})).await;
                w.app.set_status(pid, "101", json!({"rush": false})).await;
            }
            ws.send(json!({"op": "ping", "id": "after"})).await;
            let mut events = 0;
            loop {
                let f = ws.next_json().await;
                if f["type"] == "pong" {
                    break;
                }
                assert_eq!(f["type"], "event", "{who}: {f}");
                let topic = f["topic"].as_str().unwrap();
                assert!(
                    *who == "admin" || topic.contains(w.pids[0].as_str()),
                    "{who} leaked {topic}"
                );
                events += 1;
            }
            let expected_events = match *who {
                "admin" => 8,
                _ if allowed(who, "room_read") => 4,
                _ => 0,
            };
            assert_eq!(events, expected_events, "{who}");
        }
        w.app.stop().await;
    }
);

//! Restaurants and bars over HTTP and WebSocket: a floor plan that follows the service live,
//! bookings that take the smallest free table then a combination and never overlap (one
//! node or two), pacing, walk-ins, the waitlist with "table ready", hotel guests' bookings
//! and their chat, and every refusal with its code.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    both,
    helpers::{TestApp, TestDb, WsClient, spawn_app, spawn_app_with},
    reservations::{book as book_stay, guest, today},
};

/// A restaurant with tables T2 (1–2 seats), T4a and T4b (2–4), and the combination
/// T4a+T4b (5–8); answers (venue id, table ids by name).
pub async fn restaurant(
    app: &TestApp,
    pid: &str,
) -> (String, std::collections::HashMap<String, String>) {
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/venues"),
            &json!({"name": "Brasserie", "kind": "restaurant", "sections": ["Terrace"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let vid = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/venues/{vid}/tables"),
            &json!([
                {"name": "T2", "min_seats": 1, "max_seats": 2, "x": 1, "y": 1, "shape": "round"},
                {"name": "T4a", "min_seats": 2, "max_seats": 4, "x": 3, "y": 1, "section": "Terrace"},
                {"name": "T4b", "min_seats": 2, "max_seats": 4, "x": 5, "y": 1, "section": "Terrace"},
            ]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ids: std::collections::HashMap<String, String> = r.body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/venues/{vid}/settings"),
            &json!({"combinations": [{"tables": [ids["T4a"], ids["T4b"]], "min_seats": 5, "max_seats": 8}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (vid, ids)
}

/// A time `minutes` from now, on a quarter hour (so pacing slots are predictable).
fn in_minutes(minutes: i64) -> String {
    let now = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    let q = chrono::Duration::minutes(15);
    chrono::DurationRound::duration_trunc(now, q)
        .unwrap()
        .to_rfc3339()
}

async fn book(app: &TestApp, pid: &str, vid: &str, body: Value) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/properties/{pid}/venues/{vid}/bookings"),
        &body,
    )
    .await
}

async fn table(app: &TestApp, tid: &str, action: &str, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/tables/{tid}/{action}"), &body)
        .await
}

async fn party(app: &TestApp, id: &str, action: &str, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/parties/{id}/{action}"), &body)
        .await
}

fn tables_of(party: &Value) -> Vec<String> {
    party["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// The next event frame of `kind` on `topic`.
async fn event(ws: &mut WsClient, topic: &str, kind: &str) -> Value {
    loop {
        let f = ws.next_json().await;
        if f["type"] == "event" && f["topic"] == topic && f["event"]["kind"] == kind {
            return f;
        }
    }
}

both!(
    bookings_take_the_smallest_free_table_then_a_combination,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&[]).await;
        let (vid, t) = restaurant(&app, &pid).await;
        let at = in_minutes(180);
        let two = |name: &str| json!({"party_size": 2, "name": name, "at": at});
        let r = book(&app, &pid, &vid, two("Ada")).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            tables_of(&r.body),
            [t["T2"].clone()],
            "the smallest table that fits"
        );
        assert_eq!(r.body["status"], "booked");
        let ends: chrono::DateTime<chrono::Utc> =
            r.body["ends_at"].as_str().unwrap().parse().unwrap();
        let starts: chrono::DateTime<chrono::Utc> =
            r.body["starts_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            ends - starts,
            chrono::Duration::minutes(90),
            "turn time for two"
        );
        let first = r.body["id"].as_str().unwrap().to_owned();
        let r = book(&app, &pid, &vid, two("Grace")).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let four_tops = [t["T4a"].clone(), t["T4b"].clone()];
        let grace = tables_of(&r.body);
        assert!(
            grace.len() == 1 && four_tops.contains(&grace[0]),
            "T2 is taken at that time: one of the four-tops (equally good ones are spread)"
        );
        let r = book(
            &app,
            &pid,
            &vid,
            json!({"party_size": 7, "name": "Turing", "at": in_minutes(480)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            tables_of(&r.body),
            [t["T4a"].clone(), t["T4b"].clone()],
            "a combination"
        );
        let r = book(
            &app,
            &pid,
            &vid,
            json!({"party_size": 9, "name": "Too many", "at": at}),
        )
        .await;
        assert_eq!((r.status, r.code()), (409, "no_table_available"));
        let r = book(&app, &pid, &vid, two("Hopper")).await;
        let hopper = tables_of(&r.body);
        assert!(
            hopper.len() == 1 && four_tops.contains(&hopper[0]) && hopper != grace,
            "the other four-top"
        );
        let r = book(&app, &pid, &vid, two("Lamarr")).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "no_table_available"),
            "all three taken then"
        );
        // 90 minutes later, T2 is free again (end to end, no overlap).
        let later = (starts + chrono::Duration::minutes(90)).to_rfc3339();
        let r = book(
            &app,
            &pid,
            &vid,
            json!({"party_size": 2, "name": "Noether", "at": later}),
        )
        .await;
        assert_eq!(tables_of(&r.body), [t["T2"].clone()]);
        // Canceling frees the table at once.
        assert_eq!(
            party(&app, &first, "cancel", json!({})).await.body["status"],
            "canceled"
        );
        let r = book(&app, &pid, &vid, two("Lamarr")).await;
        assert_eq!((r.status, tables_of(&r.body)), (201, vec![t["T2"].clone()]));
        // Bad input, each with its code, and nothing stored.
        for (body, code) in [
            (
                json!({"party_size": 0, "name": "x", "at": at}),
                "validation_failed",
            ),
            (
                json!({"party_size": 2, "name": " ", "at": at}),
                "validation_failed",
            ),
            (
                json!({"party_size": 2, "name": "x", "at": at, "phone": "call me"}),
                "validation_failed",
            ),
            (
                json!({"party_size": 2, "name": "x", "at": "2020-01-01T19:00:00Z"}),
                "validation_failed",
            ),
            (
                json!({"party_size": 2, "name": "x", "at": at, "reservation_id": uuid::Uuid::new_v4()}),
                "validation_failed",
            ),
        ] {
            let r = book(&app, &pid, &vid, body.clone()).await;
            assert_eq!((r.status, r.code()), (422, code), "{body}: {}", r.body);
        }
        let r = app
            .post_raw(
                &format!("/api/v1/properties/{pid}/venues/{vid}/bookings"),
                "{nope",
            )
            .await;
        assert_eq!(r.status, 400);
        let r = book(&app, &pid, &uuid::Uuid::new_v4().to_string(), two("x")).await;
        assert_eq!((r.status, r.code()), (404, "venue_not_found"));
        let listed = app
            .get(&format!("/api/v1/properties/{pid}/venues/{vid}/bookings"))
            .await;
        assert_eq!(listed.body["parties"].as_array().unwrap().len(), 6);
        app.stop().await;
    }
);

both!(
    pacing_caps_the_covers_starting_in_a_quarter_hour,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&[]).await;
        let (vid, _) = restaurant(&app, &pid).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/venues/{vid}/settings"),
                &json!({"pacing": 6}),
            )
            .await;
        assert_eq!((r.status, r.body["pacing"].as_u64()), (200, Some(6)));
        let at = in_minutes(240);
        assert_eq!(
            book(
                &app,
                &pid,
                &vid,
                json!({"party_size": 4, "name": "A", "at": at})
            )
            .await
            .status,
            201
        );
        let r = book(
            &app,
            &pid,
            &vid,
            json!({"party_size": 3, "name": "B", "at": at}),
        )
        .await;
        assert_eq!((r.status, r.code()), (409, "pacing_full"), "4 + 3 > 6");
        assert_eq!(
            book(
                &app,
                &pid,
                &vid,
                json!({"party_size": 2, "name": "C", "at": at})
            )
            .await
            .status,
            201
        );
        // The next quarter hour has its own budget.
        let next = (chrono::DateTime::parse_from_rfc3339(&at).unwrap()
            + chrono::Duration::minutes(15))
        .to_rfc3339();
        assert_eq!(
            book(
                &app,
                &pid,
                &vid,
                json!({"party_size": 3, "name": "D", "at": next})
            )
            .await
            .status,
            201
        );
        let r = app
        .post(&format!("/api/v1/properties/{pid}/venues/{vid}/settings"), &json!({"turn_times": [{"max_party": 4, "minutes": 60}, {"max_party": 2, "minutes": 30}]}))
        .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        app.stop().await;
    }
);

both!(the_floor_plan_follows_the_service_live, |b| async move {
    let app = spawn_app(b).await;
    let pid = app.hotel(&["101"]).await;
    let (vid, t) = restaurant(&app, &pid).await;
    let host = app.user_token(&pid, "restaurant", "host@venue.test").await;
    let topic = format!("tables:{vid}");
    let mut ws = WsClient::connect(app.port, &host).await;
    let snap = ws.subscribe(&topic).await;
    let states: Vec<&str> = snap["snapshot"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["available"; 3]);
    // A walk-in of two: the smallest free table, occupied, live.
    let r = app
        .post_as(
            Some(&host),
            &format!("/api/v1/properties/{pid}/venues/{vid}/walk-ins"),
            &json!({"party_size": 2}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["table"]["id"], t["T2"].as_str());
    let walk_in = r.body["party"]["id"].as_str().unwrap().to_owned();
    let f = event(&mut ws, &topic, "party_seated").await;
    assert_eq!(
        (f["stream"].as_str(), f["state"]["state"].as_str()),
        (
            Some(format!("table:{}", t["T2"]).as_str()),
            Some("occupied")
        )
    );
    // Occupied is a seated party, never set by hand; the service goes around.
    let r = table(&app, &t["T2"], "block", json!({"reason": "wobbly"})).await;
    assert_eq!((r.status, r.code()), (422, "table_occupied"));
    let r = party(&app, &walk_in, "pay", json!({"charge_to_room": true})).await;
    assert_eq!((r.status, r.code()), (422, "no_room_to_charge"));
    assert_eq!(
        party(&app, &walk_in, "pay", json!({})).await.body["status"],
        "paid"
    );
    let r = table(&app, &t["T2"], "clear", json!({})).await;
    assert_eq!(
        (
            r.body["table"]["state"].as_str(),
            r.body["party"]["status"].as_str()
        ),
        (Some("needs_bussing"), Some("finished"))
    );
    assert_eq!(
        event(&mut ws, &topic, "table_cleared").await["state"]["state"],
        "needs_bussing"
    );
    assert_eq!(
        event(&mut ws, &topic, "party_finished").await["state"]["status"],
        "finished"
    );
    let r = app
        .post_as(
            Some(&host),
            &format!("/api/v1/properties/{pid}/venues/{vid}/walk-ins"),
            &json!({"party_size": 2, "table": t["T2"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "table_needs_bussing"));
    assert_eq!(
        table(&app, &t["T2"], "bus", json!({})).await.body["table"]["state"],
        "available"
    );
    assert_eq!(
        event(&mut ws, &topic, "table_bussed").await["state"]["state"],
        "available"
    );
    let r = table(&app, &t["T2"], "bus", json!({})).await;
    assert_eq!((r.status, r.code()), (422, "table_not_dirty"));
    assert_eq!(
        table(&app, &t["T2"], "block", json!({"reason": "wobbly leg"}))
            .await
            .body["table"]["state"],
        "blocked"
    );
    assert_eq!(
        event(&mut ws, &topic, "table_blocked").await["state"]["state"],
        "blocked"
    );
    assert_eq!(
        table(&app, &t["T2"], "unblock", json!({})).await.body["table"]["state"],
        "available"
    );

    // The waitlist: every table taken, a quote, "table ready" holds one, then seated.
    for size in [3, 4] {
        let r = app
            .post_as(
                Some(&host),
                &format!("/api/v1/properties/{pid}/venues/{vid}/walk-ins"),
                &json!({"party_size": size}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = app
        .post_as(
            Some(&host),
            &format!("/api/v1/properties/{pid}/venues/{vid}/walk-ins"),
            &json!({"party_size": 4}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "no_table_available"));
    let r = app
        .post_as(
            Some(&host),
            &format!("/api/v1/properties/{pid}/venues/{vid}/waitlist"),
            &json!({"party_size": 4, "name": "Curie", "phone": "+33 1 23 45 67 89"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (201, Some("quoted")),
        "{}",
        r.body
    );
    let quoted = r.body["quoted_minutes"].as_u64().unwrap();
    assert!(
        (115..=125).contains(&quoted),
        "the first four-top frees in two hours: {quoted}"
    );
    let waiting = r.body["id"].as_str().unwrap().to_owned();
    loop {
        let f = event(&mut ws, &topic, "party_created").await;
        if f["stream"] == format!("party:{waiting}") {
            assert_eq!(f["state"]["status"], "quoted");
            break;
        }
    }
    // T4a's party leaves; the table is bussed and offered to the waiting party.
    table(&app, &t["T4a"], "clear", json!({})).await;
    table(&app, &t["T4a"], "bus", json!({})).await;
    let r = table(&app, &t["T4a"], "ready", json!({"party_id": waiting})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["table"]["state"], "reserved");
    assert_eq!(
        (
            r.body["party"]["status"].as_str(),
            r.body["party"]["hold"][0].as_str()
        ),
        (Some("notified"), Some(t["T4a"].as_str()))
    );
    let f = event(&mut ws, &topic, "party_notified").await;
    assert_eq!(f["event"]["channel"], "sms", "no app: recorded for an SMS");
    let r = app
        .post_as(
            Some(&host),
            &format!("/api/v1/properties/{pid}/venues/{vid}/walk-ins"),
            &json!({"party_size": 2, "table": t["T4a"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "table_held"),
        "held for the party that was told"
    );
    let r = table(&app, &t["T4a"], "seat", json!({"party_id": waiting})).await;
    assert_eq!(
        (
            r.body["table"]["state"].as_str(),
            r.body["party"]["status"].as_str()
        ),
        (Some("occupied"), Some("seated"))
    );
    let r = table(&app, &t["T4b"], "seat", json!({"party_id": waiting})).await;
    assert_eq!((r.status, r.code()), (422, "table_occupied"));
    // The host stand's view over HTTP agrees with the live one.
    let floor = app
        .get(&format!("/api/v1/properties/{pid}/venues/{vid}"))
        .await;
    let by_name = |n: &str| {
        floor.body["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(
        (by_name("T2"), by_name("T4a"), by_name("T4b")),
        (json!("available"), json!("occupied"), json!("occupied")),
        "the two-top was never needed by the parties of three and four"
    );
    for (path, code) in [
        (
            format!("/api/v1/tables/{}/dance", t["T2"]),
            "unknown_action",
        ),
        (
            format!("/api/v1/tables/{}/seat", uuid::Uuid::new_v4()),
            "table_not_found",
        ),
        (
            format!("/api/v1/parties/{}/arrive", uuid::Uuid::new_v4()),
            "party_not_found",
        ),
    ] {
        let r = app.post(&path, &json!({})).await;
        assert_eq!((r.status, r.code()), (404, code), "{path}");
    }
    let r = table(&app, &t["T2"], "seat", json!({})).await;
    assert_eq!(r.status, 400, "seat needs a party");
    // A housekeeper runs no tables.
    let hk = app.user_token(&pid, "housekeeper", "hk@venue.test").await;
    let r = app
        .post_as(
            Some(&hk),
            &format!("/api/v1/tables/{}/bus", t["T2"]),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 403);
    app.stop().await;
});

both!(
    a_hotel_guest_books_charges_to_the_room_and_hears_the_table_is_ready_in_chat,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let (vid, t) = restaurant(&app, &pid).await;
        let gid = guest(&app, &pid).await;
        let day = today(&app, &pid).await;
        let r = book_stay(&app, &pid, json!({"guest_id": gid, "room_type": "KING", "arrival": day.to_string(), "departure": (day + chrono::Days::new(2)).to_string()})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.body["id"].as_str().unwrap().to_owned();
        let r = book(
            &app,
            &pid,
            &vid,
            json!({"party_size": 2, "name": "Hopper", "at": in_minutes(60), "reservation_id": rid}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let booked = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            party(&app, &booked, "arrive", json!({})).await.body["status"],
            "arrived"
        );
        let r = party(&app, &booked, "no-show", json!({})).await;
        assert_eq!((r.status, r.code()), (422, "illegal_transition"));
        let r = table(&app, &t["T2"], "seat", json!({"party_id": booked})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = party(&app, &booked, "pay", json!({"charge_to_room": true})).await;
        assert_eq!(
            (r.status, r.body["charged_to_room"].as_str()),
            (200, Some(rid.as_str())),
            "{}",
            r.body
        );
        // Waiting later as a hotel guest: "table ready" arrives in the stay's conversation.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/venues/{vid}/waitlist"),
                &json!({"party_size": 3, "name": "Hopper", "reservation_id": rid}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let waiting = r.body["id"].as_str().unwrap().to_owned();
        let r = table(&app, &t["T4b"], "ready", json!({"party_id": waiting})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let messages = app
            .get(&format!("/api/v1/conversations/{rid}/messages"))
            .await;
        let last = messages.body["messages"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(last["kind"], "system");
        assert!(
            last["body"]
                .as_str()
                .unwrap()
                .contains("Your table at Brasserie is ready (table T4b)"),
            "{last}"
        );
        let r = party(&app, &waiting, "remove", json!({})).await;
        assert_eq!(r.body["status"], "removed");
        // The table held for them is free for the next party at once.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/venues/{vid}/walk-ins"),
                &json!({"party_size": 2, "table": t["T4b"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        // A booking before its time is not a no-show yet.
        let r = book(
            &app,
            &pid,
            &vid,
            json!({"party_size": 2, "name": "Later", "at": in_minutes(300)}),
        )
        .await;
        let later = r.body["id"].as_str().unwrap().to_owned();
        let r = party(&app, &later, "no-show", json!({})).await;
        assert_eq!((r.status, r.code()), (422, "no_show_too_early"));
        app.stop().await;
    }
);

both!(
    concurrent_bookings_of_the_last_table_exactly_one_wins,
    |b| async move {
        let db = Arc::new(TestDb::new(b).await);
        let app = spawn_app_with(db, |_| {}).await;
        let pid = app.hotel(&[]).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/venues"),
                &json!({"name": "Bar", "kind": "bar"}),
            )
            .await;
        let vid = r.body["id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/venues/{vid}/tables"),
                &json!({"name": "Last", "max_seats": 4}),
            )
            .await;
        assert_eq!(r.status, 201);
        let at = in_minutes(120);
        let tries = (0..60).map(|i| {
            let (app, pid, vid, at) = (&app, pid.clone(), vid.clone(), at.clone());
            async move {
                book(
                    app,
                    &pid,
                    &vid,
                    json!({"party_size": 2, "name": format!("P{i}"), "at": at}),
                )
                .await
            }
        });
        let replies = futures_util::future::join_all(tries).await;
        let won = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(won, 1, "exactly one booking of the last table");
        assert!(
            replies
                .iter()
                .filter(|r| r.status != 201)
                .all(|r| (r.status, r.code()) == (409, "no_table_available"))
        );
        app.stop().await;
    }
);

#[actix_web::test]
async fn two_nodes_never_give_one_table_twice() {
    let (_db, nodes) = crate::cluster::cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let pid = a.hotel(&[]).await;
    let r = a
        .post(
            &format!("/api/v1/properties/{pid}/venues"),
            &json!({"name": "Bar", "kind": "bar"}),
        )
        .await;
    let vid = r.body["id"].as_str().unwrap().to_owned();
    let r = a
        .post(
            &format!("/api/v1/properties/{pid}/venues/{vid}/tables"),
            &json!([{"name": "A", "max_seats": 2}, {"name": "B", "max_seats": 2}]),
        )
        .await;
    assert_eq!(r.status, 201);
    let at = in_minutes(120);
    let tries = (0..60).map(|i| {
        let node = if i % 2 == 0 { a } else { b };
        let (pid, vid, at) = (pid.clone(), vid.clone(), at.clone());
        async move {
            book(
                node,
                &pid,
                &vid,
                json!({"party_size": 2, "name": format!("P{i}"), "at": at}),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(tries).await;
    let won: Vec<&Value> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| &r.body)
        .collect();
    assert_eq!(won.len(), 2, "two tables, two bookings");
    assert_ne!(tables_of(won[0]), tables_of(won[1]), "one party per table");
    assert!(
        replies
            .iter()
            .filter(|r| r.status != 201)
            .all(|r| r.code() == "no_table_available")
    );
    for n in nodes {
        n.stop().await;
    }
}

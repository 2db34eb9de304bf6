//! Reservations over HTTP and WebSocket: the lifecycle with the room board moving live, the
//! inventory and no-double-booking guarantees under concurrency, the waitlist, the night
//! audit, and the check-in policy.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    both,
    helpers::{TestApp, WsClient, spawn_app},
};

/// A guest of `pid`; returns the guest id.
pub async fn guest(app: &TestApp, pid: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/guests"),
            &json!({"name": "Grace Hopper", "email": "grace@example.org"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The property's business date (from the reservations list).
pub async fn today(app: &TestApp, pid: &str) -> chrono::NaiveDate {
    let r = app
        .get(&format!("/api/v1/properties/{pid}/reservations"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["business_date"].as_str().unwrap().parse().unwrap()
}

fn plus(d: chrono::NaiveDate, days: u64) -> String {
    (d + chrono::Days::new(days)).to_string()
}

/// Books and answers the raw reply.
pub async fn book(app: &TestApp, pid: &str, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/properties/{pid}/reservations"), &body)
        .await
}

async fn act(app: &TestApp, rid: &str, action: &str, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/reservations/{rid}/{action}"), &body)
        .await
}

fn allowed(r: &Value, action: &str) -> (bool, Option<String>) {
    let entry = r["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == action)
        .unwrap_or_else(|| panic!("{action} missing in {r}"));
    (
        entry["allowed"].as_bool().unwrap(),
        entry["code"].as_str().map(str::to_owned),
    )
}

/// Reads event frames until one of `kind` on `topic` arrives; returns it.
pub async fn event_of(ws: &mut WsClient, topic: &str, kind: &str) -> Value {
    loop {
        let f = ws.next_json().await;
        if f["type"] == "event" && f["topic"] == topic && f["event"]["kind"] == kind {
            return f;
        }
    }
}

both!(
    a_stay_from_booking_to_check_out_moves_the_room_board_live,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let mut ws = app.ws().await;
        ws.subscribe(&format!("rooms:{pid}")).await;
        let snap = ws.subscribe(&format!("reservations:{pid}")).await;
        assert_eq!(snap["snapshot"]["reservations"], json!([]));

        let r = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING", "arrival": today.to_string(),
                   "departure": plus(today, 2), "adults": 2}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "confirmed");
        let rid = r.body["id"].as_str().unwrap().to_owned();
        let created = event_of(
            &mut ws,
            &format!("reservations:{pid}"),
            "reservation_created",
        )
        .await;
        assert_eq!(created["state"]["id"], rid.as_str());
        assert_eq!(
            allowed(&r.body, "check_in"),
            (false, Some("no_room_assigned".into()))
        );
        assert_eq!(allowed(&r.body, "cancel"), (true, None));
        assert_eq!(
            allowed(&r.body, "no_show"),
            (false, Some("not_yet_no_show".into()))
        );

        // Check-in needs a room, then a clean one.
        let r = act(&app, &rid, "check-in", json!({})).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "no_room_assigned"),
            "{}",
            r.body
        );
        let r = act(&app, &rid, "assign", json!({"room": "101"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["room"]["number"], "101");
        // The list says what the check-in will answer: the room is dirty.
        assert_eq!(
            allowed(&r.body, "check_in"),
            (false, Some("room_dirty".into()))
        );
        let r = act(&app, &rid, "check-in", json!({})).await;
        assert_eq!((r.status, r.code()), (422, "room_dirty"), "{}", r.body);
        app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
            .await;
        let read = app.get(&format!("/api/v1/reservations/{rid}")).await;
        assert_eq!(allowed(&read.body, "check_in"), (true, None), "now clean");
        let r = act(&app, &rid, "check-in", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "in_house");
        let f = event_of(&mut ws, &format!("rooms:{pid}"), "guest_checked_in").await;
        assert_eq!(f["state"]["number"], "101");
        assert_eq!(f["state"]["fo_occupancy"], "occupied");

        // A room move: the new room is occupied, the old one vacant and dirty.
        app.set_status(&pid, "102", json!({"cleanliness": "clean"}))
            .await;
        let r = act(&app, &rid, "move", json!({"room": "102"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["room"]["number"], "102");
        let room = |n: &'static str| {
            let app = &app;
            let pid = pid.clone();
            async move {
                app.get(&format!("/api/v1/properties/{pid}/rooms/{n}"))
                    .await
                    .body
            }
        };
        let old = room("101").await;
        assert_eq!(
            (old["fo_occupancy"].as_str(), old["cleanliness"].as_str()),
            (Some("vacant"), Some("dirty"))
        );
        assert_eq!(room("102").await["fo_occupancy"], "occupied");
        // The room left behind gets its departure clean.
        let tasks = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
        let cleans: Vec<_> = tasks.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["kind"].as_str().unwrap().to_owned(),
                    t["room_number"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(cleans, [("departure".to_owned(), "101".to_owned())]);

        // Check-out: occupied → vacant and dirty, live.
        let r = act(&app, &rid, "check-out", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "checked_out");
        // The move vacated 101 first; then 102 empties.
        let f = event_of(&mut ws, &format!("rooms:{pid}"), "guest_checked_out").await;
        assert_eq!(f["state"]["number"], "101");
        let f = event_of(&mut ws, &format!("rooms:{pid}"), "guest_checked_out").await;
        assert_eq!(f["state"]["number"], "102");
        let f = event_of(&mut ws, &format!("rooms:{pid}"), "cleanliness_changed").await;
        assert_eq!(
            (
                f["state"]["number"].as_str(),
                f["state"]["cleanliness"].as_str(),
                f["state"]["fo_occupancy"].as_str()
            ),
            (Some("102"), Some("dirty"), Some("vacant"))
        );
        // Nothing more may happen to it, and it says why.
        let r = app.get(&format!("/api/v1/reservations/{rid}")).await;
        assert!(
            r.body["allowed_actions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["allowed"] == false),
            "{}",
            r.body
        );
        let r = act(&app, &rid, "cancel", json!({"reason": "x"})).await;
        assert_eq!((r.status, r.code()), (422, "illegal_transition"));

        // The guest's stay history.
        let g = app
            .get(&format!("/api/v1/properties/{pid}/guests/{gid}"))
            .await;
        assert_eq!(g.status, 200, "{}", g.body);
        assert_eq!(g.body["stays"][0]["id"], rid.as_str());
        assert_eq!(g.body["stays"][0]["status"], "checked_out");
        // The audit trail of the reservation tells the whole story.
        let trail = app
            .get(&format!(
                "/api/v1/properties/{pid}/audit?stream=reservation:{rid}"
            ))
            .await;
        let kinds: Vec<_> = trail.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "reservation_created",
                "room_assigned",
                "checked_in",
                "room_moved",
                "checked_out"
            ]
        );
    }
);

both!(
    bad_input_is_a_clear_error_and_changes_nothing,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let cases = [
            (
                json!({"guest_id": gid, "room_type": "KING", "arrival": plus(today, 2), "departure": plus(today, 1)}),
                422,
                "invalid_stay",
            ),
            (
                json!({"guest_id": gid, "room_type": "KING", "arrival": "2020-01-01", "departure": "2020-01-02"}),
                422,
                "past_dates",
            ),
            (
                json!({"guest_id": uuid::Uuid::new_v4(), "room_type": "KING", "arrival": plus(today, 1), "departure": plus(today, 2)}),
                404,
                "guest_not_found",
            ),
            (
                json!({"guest_id": gid, "room_type": "KING", "arrival": plus(today, 1), "departure": plus(today, 2), "adults": 0}),
                422,
                "invalid_party",
            ),
            (
                json!({"guest_id": gid, "room_type": "KING", "arrival": "soon"}),
                400,
                "invalid_body",
            ),
            (
                json!({"guest_id": gid, "room_type": "NOPE", "arrival": plus(today, 1), "departure": plus(today, 2)}),
                422,
                "invalid_room_type",
            ),
            // A type the hotel does not sell cannot be waitlisted or overbooked either.
            (
                json!({"guest_id": gid, "room_type": "NOPE", "arrival": plus(today, 1), "departure": plus(today, 2), "waitlist": true}),
                422,
                "invalid_room_type",
            ),
        ];
        for (body, status, code) in cases {
            let r = book(&app, &pid, body.clone()).await;
            assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.body);
        }
        let r = book(&app, &pid, json!({"guest_id": gid, "room_type": "KING", "arrival": plus(today, 1), "departure": plus(today, 2)})).await;
        let rid = r.body["id"].as_str().unwrap().to_owned();
        for (action, body, status, code) in [
            ("fly", json!({}), 404, "unknown_action"),
            ("assign", json!({}), 400, "invalid_body"),
            ("assign", json!({"room": "999"}), 404, "room_not_found"),
            ("cancel", json!({"reason": ""}), 422, "invalid_reason"),
            ("confirm", json!({}), 422, "illegal_transition"),
            (
                "amend",
                json!({"expected_version": 7, "adults": 2}),
                409,
                "version_mismatch",
            ),
        ] {
            let r = act(&app, &rid, action, body).await;
            assert_eq!((r.status, r.code()), (status, code), "{action}: {}", r.body);
        }
        let r = app.get(&format!("/api/v1/reservations/{rid}")).await;
        assert_eq!(r.body["version"], 1, "nothing was written: {}", r.body);
        let r = app
            .get(&format!("/api/v1/reservations/{}", uuid::Uuid::new_v4()))
            .await;
        assert_eq!((r.status, r.code()), (404, "reservation_not_found"));
    }
);

both!(
    a_sold_out_type_refuses_waitlists_or_overbooks_on_a_managers_word,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let stay = |extra: Value| {
            let mut b = json!({"guest_id": gid, "room_type": "KING",
                "arrival": plus(today, 3), "departure": plus(today, 5)});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            b
        };
        let mut avail = app.ws().await;
        avail.subscribe(&format!("availability:{pid}")).await;
        let first = book(&app, &pid, stay(json!({}))).await;
        assert_eq!(first.status, 201, "{}", first.body);
        let f = event_of(
            &mut avail,
            &format!("availability:{pid}"),
            "reservation_created",
        )
        .await;
        assert_eq!(f["state"]["room_type"], "KING");

        let r = book(&app, &pid, stay(json!({}))).await;
        assert_eq!((r.status, r.code()), (409, "sold_out"), "{}", r.body);
        let waiting = book(&app, &pid, stay(json!({"waitlist": true}))).await;
        assert_eq!(waiting.status, 201, "{}", waiting.body);
        assert_eq!(waiting.body["status"], "waitlisted");
        // Overbooking is a manager's decision.
        let desk = app
            .user_token(&pid, "front_desk", &format!("desk@{}.test", &pid[..8]))
            .await;
        let r = app
            .post_as(
                Some(&desk),
                &format!("/api/v1/properties/{pid}/reservations"),
                &stay(json!({"overbook": true})),
            )
            .await;
        assert_eq!((r.status, r.code()), (403, "forbidden"));
        let over = book(&app, &pid, stay(json!({"overbook": true}))).await;
        assert_eq!(over.status, 201, "{}", over.body);
        assert_eq!(over.body["overbooked"], true);
        let a = app
            .get(&format!(
                "/api/v1/properties/{pid}/availability?from={}&to={}&room_type=KING",
                plus(today, 3),
                plus(today, 4)
            ))
            .await;
        assert_eq!(a.body["nights"][0]["available"], -1, "{}", a.body);

        // One cancellation still leaves the type full: the waitlist waits.
        let rid = |r: &crate::helpers::Reply| r.body["id"].as_str().unwrap().to_owned();
        let r = act(
            &app,
            &rid(&over),
            "cancel",
            json!({"reason": "changed plans"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let w = app
            .get(&format!("/api/v1/reservations/{}", rid(&waiting)))
            .await;
        assert_eq!(w.body["status"], "waitlisted");
        // The next one frees a room: the waitlisted guest gets it.
        let r = act(
            &app,
            &rid(&first),
            "cancel",
            json!({"reason": "changed plans"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let w = app
            .get(&format!("/api/v1/reservations/{}", rid(&waiting)))
            .await;
        assert_eq!(w.body["status"], "confirmed", "{}", w.body);
        let trail = app
            .get(&format!(
                "/api/v1/properties/{pid}/audit?stream=reservation:{}",
                rid(&waiting)
            ))
            .await;
        assert_eq!(trail.body["events"][1]["kind"], "promoted");
        assert_eq!(trail.body["events"][1]["actor"], "system:waitlist");
        // Rooms going out of order change what is sellable too.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms/101/blocks"),
                &json!({"kind": "out_of_order", "reason": "leak",
                    "to": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let f = event_of(&mut avail, &format!("availability:{pid}"), "block_placed").await;
        assert_eq!(f["state"]["number"], "101");
    }
);

/// Fires `n` requests at once; answers their (status, code) pairs.
async fn all_at_once(app: &Arc<TestApp>, requests: Vec<(String, Value)>) -> Vec<(u16, String)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            let app = Arc::clone(app);
            tokio::spawn(async move {
                let r = app.post(&path, &body).await;
                (r.status, r.code().to_owned())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn tally(results: &[(u16, String)]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for (status, code) in results {
        *m.entry(format!("{status} {code}")).or_default() += 1;
    }
    m
}

both!(
    hundreds_of_conflicting_assignments_and_bookings_never_double_book,
    |b| async move {
        let app = Arc::new(spawn_app(b).await);
        let pid = app.hotel(&["101", "201", "202", "203", "204", "205"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        // 200 reservations of room 101's type, overbooked on purpose so that they exist: half
        // for two nights, half for the two nights after. Room 101 can hold exactly one of
        // each half.
        let mut rids = Vec::new();
        for i in 0..200u64 {
            let from = if i % 2 == 0 { 10 } else { 12 };
            let r = book(&app, &pid, json!({"guest_id": gid, "room_type": "KING",
                "arrival": plus(today, from), "departure": plus(today, from + 2), "overbook": true})).await;
            assert_eq!(r.status, 201, "{}", r.body);
            rids.push(r.body["id"].as_str().unwrap().to_owned());
        }
        let results = all_at_once(
            &app,
            rids.iter()
                .map(|rid| {
                    (
                        format!("/api/v1/reservations/{rid}/assign"),
                        json!({"room": "101"}),
                    )
                })
                .collect(),
        )
        .await;
        let t = tally(&results);
        assert_eq!(t.get("200 <no code>").copied(), Some(2), "{t:?}");
        assert_eq!(t.get("409 room_unavailable").copied(), Some(198), "{t:?}");
        // The store agrees: exactly two reservations hold room 101.
        let list = app
            .get(&format!(
                "/api/v1/properties/{pid}/reservations?date={}",
                plus(today, 12)
            ))
            .await;
        let holding: Vec<_> = list.body["reservations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["room"]["number"] == "101")
            .collect();
        assert_eq!(holding.len(), 2, "{holding:?}");

        // The last five rooms of a type: 150 bookings race for them.
        for n in ["201", "202", "203", "204", "205"] {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/rooms/{n}/status"),
                    &json!({"rush": true}),
                )
                .await;
            assert_eq!(r.status, 200);
        }
        let body = json!({"guest_id": gid, "room_type": "KING", "arrival": plus(today, 30), "departure": plus(today, 31)});
        // 6 KING rooms (101 and 201–205) and nothing sold that night.
        let results = all_at_once(
            &app,
            (0..150)
                .map(|_| {
                    (
                        format!("/api/v1/properties/{pid}/reservations"),
                        body.clone(),
                    )
                })
                .collect(),
        )
        .await;
        let t = tally(&results);
        assert_eq!(t.get("201 <no code>").copied(), Some(6), "{t:?}");
        assert_eq!(t.get("409 sold_out").copied(), Some(144), "{t:?}");
        let a = app
            .get(&format!(
                "/api/v1/properties/{pid}/availability?from={}&to={}&room_type=KING",
                plus(today, 30),
                plus(today, 31)
            ))
            .await;
        assert_eq!(a.body["nights"][0]["available"], 0, "{}", a.body);
    }
);

both!(
    the_night_audit_marks_no_shows_and_rolls_the_business_date,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let due = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": today.to_string(), "departure": plus(today, 1)}),
        )
        .await;
        let later = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": plus(today, 1), "departure": plus(today, 2), "tentative": true}),
        )
        .await;
        assert_eq!((due.status, later.status), (201, 201));
        let mut ws = app.ws().await;
        ws.subscribe(&format!("reservations:{pid}")).await;

        let r = app
            .post(&format!("/api/v1/properties/{pid}/night-audit"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["business_date"], plus(today, 1));
        let f = event_of(&mut ws, &format!("reservations:{pid}"), "marked_no_show").await;
        assert_eq!(f["state"]["id"], due.body["id"]);
        let d = app
            .get(&format!(
                "/api/v1/reservations/{}",
                due.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(d.body["status"], "no_show");
        assert_eq!(d.body["business_date"], plus(today, 1));
        // Tomorrow's arrival is untouched, and may now check in (after a room and a clean).
        let l = app
            .get(&format!(
                "/api/v1/reservations/{}",
                later.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(l.body["status"], "tentative");
        // Tomorrow has not begun at the hotel: a second audit now changes nothing.
        let r = app
            .post(&format!("/api/v1/properties/{pid}/night-audit"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.body["rolled"].as_bool(), r.body["business_date"].as_str()),
            (Some(false), Some(plus(today, 1).as_str()))
        );
        // A front desk may run it too; a housekeeper may not.
        let hk = app
            .user_token(&pid, "housekeeper", &format!("hk@{}.test", &pid[..8]))
            .await;
        let r = app
            .post_as(
                Some(&hk),
                &format!("/api/v1/properties/{pid}/night-audit"),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 403);
    }
);

both!(
    a_property_may_require_inspected_rooms_for_check_in,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/settings"),
                &json!({"require_inspected": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["require_inspected"], true);
        let res = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": today.to_string(), "departure": plus(today, 1)}),
        )
        .await;
        let rid = res.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            act(&app, &rid, "assign", json!({"room": "101"}))
                .await
                .status,
            200
        );
        app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
            .await;
        let r = act(&app, &rid, "check-in", json!({})).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "room_not_inspected"),
            "{}",
            r.body
        );
        app.set_status(&pid, "101", json!({"cleanliness": "inspected"}))
            .await;
        let r = act(&app, &rid, "check-in", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
);

both!(
    a_room_with_an_assigned_stay_cannot_be_blocked_over_it,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let r = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": plus(today, 3), "departure": plus(today, 5)}),
        )
        .await;
        let rid = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            act(&app, &rid, "assign", json!({"room": "101"}))
                .await
                .status,
            200
        );
        let block = |hours: i64| {
            json!({"kind": "out_of_order", "reason": "leak",
                "to": (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339()})
        };
        let path = format!("/api/v1/properties/{pid}/rooms/101/blocks");
        let r = app.post(&path, &block(24 * 4)).await;
        assert_eq!((r.status, r.code()), (422, "stay_assigned"), "{}", r.body);
        // A repair that is over before the guest arrives is fine.
        let r = app.post(&path, &block(2)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
);

both!(
    the_day_list_and_a_reservation_name_the_guest_and_a_guest_reads_the_hotels_name,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let r = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING", "arrival": today.to_string(),
                   "departure": plus(today, 1)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(r.body["guest_name"], "Grace Hopper", "{}", r.body);
        let list = app
            .get(&format!("/api/v1/properties/{pid}/reservations"))
            .await;
        assert_eq!(
            list.body["reservations"][0]["guest_name"], "Grace Hopper",
            "{}",
            list.body
        );
        // The guest's own page: their name and the hotel's, with the token from their link
        // (which reads no property route itself).
        let token = crate::helpers::guest_token(&rid, &pid);
        let mine = app
            .get_as(Some(&token), &format!("/api/v1/reservations/{rid}"))
            .await;
        assert_eq!(mine.status, 200, "{}", mine.body);
        assert_eq!(mine.body["guest_name"], "Grace Hopper");
        assert_eq!(mine.body["property_name"], "Test Hotel");
        let property = app
            .get_as(Some(&token), &format!("/api/v1/properties/{pid}"))
            .await;
        assert_eq!(property.status, 403, "{}", property.body);
    }
);

both!(
    the_party_must_fit_the_room_type_unless_a_manager_decides,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/room-types"),
                &json!({"code": "KING", "name": "King", "max_occupancy": 2}),
            )
            .await;
        assert!(r.status < 300, "{}", r.body);
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let stay = |extra: Value| {
            let mut v = json!({"guest_id": gid, "room_type": "KING",
                               "arrival": plus(today, 1), "departure": plus(today, 2)});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        let r = book(&app, &pid, stay(json!({"adults": 3}))).await;
        assert_eq!((r.status, r.code()), (422, "invalid_party"), "{}", r.body);
        let r = book(&app, &pid, stay(json!({"adults": 1, "children": 2}))).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_party"),
            "children count"
        );
        // The front desk may not override; a manager may, and it is recorded.
        let desk = app
            .user_token(&pid, "front_desk", &format!("desk@{}.test", &pid[..8]))
            .await;
        let r = app
            .post_as(
                Some(&desk),
                &format!("/api/v1/properties/{pid}/reservations"),
                &stay(json!({"adults": 3, "override_occupancy": true})),
            )
            .await;
        assert_eq!((r.status, r.code()), (403, "forbidden"));
        let r = book(
            &app,
            &pid,
            stay(json!({"adults": 3, "override_occupancy": true})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.body["id"].as_str().unwrap().to_owned();
        let audit = app
            .get(&format!(
                "/api/v1/properties/{pid}/audit?stream=reservation:{rid}"
            ))
            .await;
        let created = &audit.body["events"][0];
        assert_eq!(created["kind"], "reservation_created", "{}", audit.body);
        assert_eq!(
            created["payload"]["occupancy_overridden"], true,
            "{created}"
        );
        // Two fit; amending to three needs the override again.
        let r = book(&app, &pid, stay(json!({"adults": 2}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let two = r.body["id"].as_str().unwrap().to_owned();
        let r = act(&app, &two, "amend", json!({"adults": 3})).await;
        assert_eq!((r.status, r.code()), (422, "invalid_party"), "{}", r.body);
        let r = act(
            &app,
            &two,
            "amend",
            json!({"adults": 3, "override_occupancy": true}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        app.stop().await;
    }
);

both!(
    a_reservation_reads_the_same_over_http_in_snapshots_and_in_live_events,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest(&app, &pid).await;
        let today = today(&app, &pid).await;
        let r = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING", "arrival": today.to_string(),
                   "departure": plus(today, 2), "adults": 1}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.body["id"].as_str().unwrap().to_owned();
        let mut ws = app.ws().await;
        ws.subscribe(&format!("reservations:{pid}")).await;
        let snap = ws.subscribe(&format!("reservation:{rid}")).await;
        let http = app.get(&format!("/api/v1/reservations/{rid}")).await;
        assert_eq!(
            snap["snapshot"]["reservation"]["allowed_actions"],
            http.body["allowed_actions"]
        );
        // Assigned to a room that is still dirty: the event says what the desk may do next
        // (not yet check in), exactly as the reservation's own route does.
        let a = act(&app, &rid, "assign", json!({"room": "101"})).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let event = event_of(&mut ws, &format!("reservation:{rid}"), "room_assigned").await;
        let http = app.get(&format!("/api/v1/reservations/{rid}")).await;
        assert_eq!(
            allowed(&event["state"], "check_in"),
            (false, Some("room_dirty".into()))
        );
        assert_eq!(
            event["state"]["allowed_actions"],
            http.body["allowed_actions"]
        );
        assert_eq!(event["state"]["business_date"], http.body["business_date"]);
        assert_eq!(event["state"]["stream"], http.body["stream"]);
        let mut other = app.ws().await;
        let list = other.subscribe(&format!("reservations:{pid}")).await;
        let listed = &list["snapshot"]["reservations"][0];
        assert_eq!(listed["id"], rid.as_str());
        assert_eq!(listed["allowed_actions"], http.body["allowed_actions"]);
    }
);

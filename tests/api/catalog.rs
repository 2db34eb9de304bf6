//! Guest profiles and room types over HTTP.

use serde_json::json;

use crate::{both, helpers::spawn_app};

both!(
    guests_are_created_validated_and_found_by_email,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let path = format!("/api/v1/properties/{pid}/guests");
        let r = app
            .post(
                &path,
                &json!({
                    "name": "  Ada Lovelace ",
                    "email": "Ada@Example.org",
                    "phone": "+44 20 7946 0000",
                    "preferences": ["high floor", "  "]
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["name"], "Ada Lovelace");
        assert_eq!(r.body["preferences"], json!(["high floor"]));
        let id = r.body["id"].as_str().unwrap().to_owned();
        app.post(&path, &json!({"name": "Charles Babbage"})).await;
        // A returning guest is found by email, whatever its case.
        let found = app.get(&format!("{path}?email=ada@example.ORG")).await;
        assert_eq!(found.status, 200);
        let guests = found.body["guests"].as_array().unwrap();
        assert_eq!(guests.len(), 1);
        assert_eq!(guests[0]["id"], id.as_str());
        assert_eq!(
            app.get(&path).await.body["guests"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // Bad input is refused with a stable code and stores nothing.
        for bad in [
            json!({"name": ""}),
            json!({"name": "X", "email": "not-an-email"}),
            json!({"name": "X", "phone": "call me"}),
        ] {
            let r = app.post(&path, &bad).await;
            assert_eq!((r.status, r.code()), (422, "validation_failed"), "{bad}");
        }
        let r = app.post(&path, &json!({"name": "X", "vip": true})).await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"));
        assert_eq!(
            app.get(&path).await.body["guests"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // Every creation is in the audit trail.
        let audit = app.get(&format!("/api/v1/properties/{pid}/audit")).await;
        assert!(
            audit.body.to_string().contains("guest_created"),
            "{}",
            audit.body
        );
        app.stop().await;
    }
);

both!(
    room_types_list_their_inventory_and_can_be_changed,
    |b| async move {
        let app = spawn_app(b).await;
        // The test hotel's rooms are of type KING.
        let pid = app.hotel(&["101", "102", "103"]).await;
        let path = format!("/api/v1/properties/{pid}/room-types");
        let listed = app.get(&path).await;
        assert_eq!(listed.status, 200);
        assert_eq!(
            listed.body["room_types"],
            json!([{"code": "KING", "rooms": 3, "defined": false}]),
            "a type rooms use shows even before it is defined"
        );
        for (name, occupancy) in [("King room", 2), ("King deluxe", 3)] {
            let r = app
                .post(
                    &path,
                    &json!({"code": "KING", "name": name, "max_occupancy": occupancy}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = app
            .post(
                &path,
                &json!({"code": "SUITE", "name": "Suite", "max_occupancy": 4}),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            app.get(&path).await.body["room_types"],
            json!([
                {"code": "KING", "name": "King deluxe", "max_occupancy": 3, "rooms": 3, "defined": true},
                {"code": "SUITE", "name": "Suite", "max_occupancy": 4, "rooms": 0, "defined": true},
            ])
        );
        for bad in [
            json!({"code": "king size", "name": "x", "max_occupancy": 2}),
            json!({"code": "KING", "name": "", "max_occupancy": 2}),
            json!({"code": "KING", "name": "x", "max_occupancy": 0}),
        ] {
            let r = app.post(&path, &bad).await;
            assert_eq!((r.status, r.code()), (422, "validation_failed"), "{bad}");
        }
        app.stop().await;
    }
);

both!(
    availability_counts_rooms_less_out_of_order_per_hotel_night,
    |b| async move {
        let app = spawn_app(b).await;
        // The test hotel is in Europe/Berlin; its rooms are KING.
        let pid = app.hotel(&["101", "102", "103"]).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms"),
                &json!({"number": "201", "floor": 2, "room_type": "TWIN"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        // Out of order from 22:30 UTC on 2099-12-01 (23:30 in Berlin) to 09:00 UTC on the 3rd
        // (10:00, before check-out time): the hotel's nights of the 1st and the 2nd.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms/103/blocks"),
                &json!({"kind": "out_of_order", "from": "2099-12-01T22:30:00Z",
                        "to": "2099-12-03T09:00:00Z", "reason": "leak"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let path = format!("/api/v1/properties/{pid}/availability");
        let r = app
            .get(&format!("{path}?from=2099-11-30&to=2099-12-04"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let king: Vec<(String, i64)> = r.body["nights"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["room_type"] == "KING")
            .map(|n| {
                (
                    n["date"].as_str().unwrap().to_owned(),
                    n["available"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            king,
            [
                ("2099-11-30".to_owned(), 3),
                ("2099-12-01".to_owned(), 2),
                ("2099-12-02".to_owned(), 2),
                ("2099-12-03".to_owned(), 3),
            ]
        );
        let twin = app
            .get(&format!(
                "{path}?from=2099-12-01&to=2099-12-02&room_type=TWIN"
            ))
            .await;
        assert_eq!(
            twin.body["nights"],
            json!([{"date": "2099-12-01", "room_type": "TWIN", "rooms": 1,
                    "out_of_order": 0, "sold": 0, "available": 1}])
        );
        for (query, code) in [
            ("from=2099-12-02&to=2099-12-01", "invalid_range"),
            ("from=2099-01-01&to=2100-06-01", "invalid_range"),
        ] {
            let r = app.get(&format!("{path}?{query}")).await;
            assert_eq!((r.status, r.code()), (422, code), "{query}");
        }
        let r = app
            .get(&format!("{path}?from=tomorrow&to=2099-12-01"))
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_query"));
        app.stop().await;
    }
);

//! The HTTP API of properties and rooms: happy paths, every error code, and no 500 for bad
//! input.

use serde_json::{Value, json};

use crate::{both, helpers::spawn_app};

both!(properties_are_created_and_read, |b| async move {
    let app = spawn_app(b).await;
    let r = app
        .post(
            "/api/v1/properties",
            &json!({"name": "  Seaside  ", "timezone": "Europe/Lisbon"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["name"], "Seaside");
    let pid = r.body["id"].as_str().unwrap();
    let r = app.get(&format!("/api/v1/properties/{pid}")).await;
    assert_eq!(
        (r.status, r.body["timezone"].as_str()),
        (200, Some("Europe/Lisbon"))
    );

    let unknown = uuid::Uuid::new_v4();
    let r = app.get(&format!("/api/v1/properties/{unknown}")).await;
    assert_eq!((r.status, r.code()), (404, "property_not_found"));
    let r = app.get("/api/v1/properties/not-a-uuid").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = app.post("/api/v1/properties", &json!({"name": ""})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    app.stop().await;
});

both!(
    rooms_are_created_one_or_many_and_form_the_board,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&[]).await;
        let path = format!("/api/v1/properties/{pid}/rooms");
        let r = app
        .post(&path, &json!({"number": "101", "floor": 1, "room_type": "KING", "cleanliness": "inspected"}))
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["rooms"][0]["version"], 1);
        let r = app
        .post(&path, &json!([{"number": "202", "floor": 2, "room_type": "TWIN"}, {"number": "201", "floor": 2, "room_type": "TWIN"}]))
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = app
            .post(
                &path,
                &json!({"rooms": [{"number": "102", "floor": 1, "room_type": "QUEEN"}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);

        let board = app.get(&path).await;
        assert_eq!(board.status, 200);
        let numbers: Vec<&str> = board.body["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_str().unwrap())
            .collect();
        assert_eq!(numbers, ["101", "102", "201", "202"]);
        let first = &board.body["rooms"][0];
        assert_eq!(first["cleanliness"], "inspected");
        assert_eq!(first["hk_occupancy"], "vacant");
        assert_eq!(first["fo_occupancy"], "vacant");
        assert_eq!(first["service"], "none");
        assert_eq!(first["discrepancy"], "none");
        assert_eq!(first["block"], Value::Null);
        assert_eq!(first["rush"], false);
        assert!(first["stream"].as_str().unwrap().starts_with("room:"));

        let floor2 = app.get(&format!("{path}?floor=2")).await;
        assert_eq!(floor2.body["rooms"].as_array().unwrap().len(), 2);
        let dirty = app
            .get(&format!("{path}?cleanliness=dirty&room_type=TWIN"))
            .await;
        assert_eq!(dirty.body["rooms"].as_array().unwrap().len(), 2);
        let r = app.get(&format!("{path}?cleanliness=filthy")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_query"));

        let one = app.get(&format!("{path}/201")).await;
        assert_eq!(
            (one.status, one.body["room_type"].as_str()),
            (200, Some("TWIN"))
        );
        app.stop().await;
    }
);

both!(
    room_creation_refuses_bad_and_duplicate_rooms_atomically,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let path = format!("/api/v1/properties/{pid}/rooms");
        // 102 is new, 101 exists: neither is created.
        let r = app
        .post(&path, &json!([{"number": "102", "floor": 1, "room_type": "K"}, {"number": "101", "floor": 1, "room_type": "K"}]))
        .await;
        assert_eq!((r.status, r.code()), (409, "room_exists"));
        let r = app.get(&format!("{path}/102")).await;
        assert_eq!((r.status, r.code()), (404, "room_not_found"));

        let r = app
        .post(&path, &json!([{"number": "7", "floor": 1, "room_type": "K"}, {"number": "7", "floor": 1, "room_type": "K"}]))
        .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        let r = app
            .post(
                &path,
                &json!({"number": "8", "floor": 999, "room_type": "K"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        let r = app
            .post(
                &path,
                &json!({"number": "a/b", "floor": 1, "room_type": "K"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"));
        let r = app.post(&path, &json!([])).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        let r = app.post(&path, &json!("101")).await;
        assert_eq!((r.status, r.code()), (400, "bad_request"));
        let r = app.post_raw(&path, "{\"number\": ").await;
        assert_eq!((r.status, r.code()), (400, "malformed_json"));
        let other = uuid::Uuid::new_v4();
        let r = app
            .post(
                &format!("/api/v1/properties/{other}/rooms"),
                &json!({"number": "1", "floor": 1, "room_type": "K"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (404, "property_not_found"));
        app.stop().await;
    }
);

both!(
    status_changes_follow_the_rules_and_versions,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let path = format!("/api/v1/properties/{pid}/rooms/101/status");

        let room = app
            .set_status(&pid, "101", json!({"cleanliness": "clean"}))
            .await;
        assert_eq!(
            (room["cleanliness"].as_str(), room["version"].as_u64()),
            (Some("clean"), Some(2))
        );
        let room = app
            .set_status(
                &pid,
                "101",
                json!({"hk_occupancy": "occupied", "service": "dnd", "expected_version": 2}),
            )
            .await;
        assert_eq!(room["version"], 4, "two facets, two events");
        assert_eq!(room["discrepancy"], "sleep");

        let r = app.post(&path, &json!({"cleanliness": "clean"})).await;
        assert_eq!((r.status, r.code()), (422, "no_change"));
        let r = app
            .post(
                &path,
                &json!({"cleanliness": "pickup", "expected_version": 2}),
            )
            .await;
        assert_eq!((r.status, r.code()), (409, "version_mismatch"));
        let r = app.post(&path, &json!({})).await;
        assert_eq!((r.status, r.code()), (422, "empty_change"));
        let r = app.post(&path, &json!({"cleanliness": "sparkling"})).await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"));
        let r = app
            .post(&path, &json!({"cleanliness": "dirty", "colour": "blue"}))
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"));
        let r = app.post_raw(&path, "not json").await;
        assert_eq!((r.status, r.code()), (400, "malformed_json"));
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms/999/status"),
                &json!({"rush": true}),
            )
            .await;
        assert_eq!((r.status, r.code()), (404, "room_not_found"));

        // dirty → inspected skips the clean: illegal.
        app.set_status(&pid, "101", json!({"cleanliness": "dirty"}))
            .await;
        let r = app.post(&path, &json!({"cleanliness": "inspected"})).await;
        assert_eq!((r.status, r.code()), (422, "illegal_transition"));
        // Refusals left nothing behind.
        let r = app
            .get(&format!("/api/v1/properties/{pid}/rooms/101"))
            .await;
        assert_eq!(r.body["version"], 5);
        assert_eq!(r.body["cleanliness"], "dirty");
        app.stop().await;
    }
);

both!(blocks_are_placed_refused_and_released, |b| async move {
    let app = spawn_app(b).await;
    let pid = app.hotel(&["101"]).await;
    let blocks = format!("/api/v1/properties/{pid}/rooms/101/blocks");
    let to = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r = app
        .post(
            &blocks,
            &json!({"kind": "out_of_order", "to": to, "reason": "leak", "return_status": "clean"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["block"]["kind"], "out_of_order");
    assert_eq!(r.body["block"]["reason"], "leak");
    assert_eq!(r.body["version"], 2);

    let r = app
        .post(
            &blocks,
            &json!({"kind": "out_of_service", "to": to, "reason": "x"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "already_blocked"));
    let r = app.post_raw(&format!("{blocks}/release"), "{oops").await;
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    let r = app
        .post(
            &format!("{blocks}/release"),
            &json!({"expected_version": 1}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "version_mismatch"));

    let resp = app
        .http
        .post(format!("{}{blocks}/release", app.address))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "a release needs no body");
    let room: Value = resp.json().await.unwrap();
    assert_eq!(room["block"], Value::Null);
    assert_eq!(room["cleanliness"], "clean");

    let r = app.post(&format!("{blocks}/release"), &json!({})).await;
    assert_eq!((r.status, r.code()), (422, "not_blocked"));
    let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let r = app
        .post(
            &blocks,
            &json!({"kind": "out_of_order", "to": past, "reason": "x"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_block"));
    let r = app
        .post(&blocks, &json!({"kind": "closed", "to": to, "reason": "x"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_body"));
    // A plain date is the hotel night: from its noon, in the hotel's time zone (Berlin, winter:
    // 11:00 UTC), to the noon that ends the night before `to`.
    let r = app
        .post(
            &blocks,
            &json!({"kind": "out_of_service", "from": "2099-12-01", "to": "2099-12-03", "reason": "paint"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let at = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(
        at(&r.body["block"]["from"]).to_rfc3339(),
        "2099-12-01T11:00:00+00:00"
    );
    assert_eq!(
        at(&r.body["block"]["to"]).to_rfc3339(),
        "2099-12-03T11:00:00+00:00"
    );
    app.post(&format!("{blocks}/release"), &json!({})).await;
    // A bad value names its field.
    for (body, field) in [
        (
            json!({"kind": "out_of_order", "to": "soon", "reason": "x"}),
            "to:",
        ),
        (
            json!({"kind": "out_of_order", "from": "2099-13-01", "to": to, "reason": "x"}),
            "from:",
        ),
    ] {
        let r = app.post(&blocks, &body).await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    app.stop().await;
});

both!(health_ready_metrics_and_unknown_routes, |b| async move {
    let app = spawn_app(b).await;
    let r = app.get("/health").await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
    let r = app.get("/ready").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["store"]["ok"], true);
    assert_eq!(r.body["bus"]["ok"], true);
    let pid = app.hotel(&["101"]).await;
    app.set_status(&pid, "101", json!({"rush": true})).await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(text.contains("bellhop_commands_ok_total 1\n"), "{text}");
    assert!(text.contains("bellhop_http_responses_total{class=\"2xx\"}"));
    let r = app.get("/api/v1/nothing/here").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    app.stop().await;
});

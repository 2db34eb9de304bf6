//! Nothing shown to a client is lost on restart.

use std::sync::Arc;

use serde_json::json;

use crate::{
    both,
    helpers::{TestDb, spawn_app_with},
};

both!(a_restarted_server_serves_the_same_board, |b| async move {
    let db = Arc::new(TestDb::new(b).await);
    let app = spawn_app_with(Arc::clone(&db), |_| {}).await;
    let pid = app.hotel(&["101", "102", "103"]).await;
    app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    app.set_status(&pid, "101", json!({"cleanliness": "inspected"}))
        .await;
    app.set_status(
        &pid,
        "102",
        json!({"hk_occupancy": "occupied", "service": "make_up_room"}),
    )
    .await;
    let to = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/rooms/103/blocks"),
            &json!({"kind": "out_of_order", "to": to, "reason": "leak"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let mut ws = app.ws().await;
    let before = ws.subscribe(&format!("rooms:{pid}")).await;
    let board_before = app
        .get(&format!("/api/v1/properties/{pid}/rooms"))
        .await
        .body;
    app.stop().await;

    let app = spawn_app_with(db, |_| {}).await;
    let board_after = app
        .get(&format!("/api/v1/properties/{pid}/rooms"))
        .await
        .body;
    assert_eq!(board_after, board_before);
    let mut ws = app.ws().await;
    let after = ws.subscribe(&format!("rooms:{pid}")).await;
    assert_eq!(after["snapshot"], before["snapshot"]);
    let versions: Vec<u64> = after["snapshot"]["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 3, 2]);
    // And it carries on from there.
    let room = app
        .set_status(
            &pid,
            "101",
            json!({"cleanliness": "dirty", "expected_version": 3}),
        )
        .await;
    assert_eq!(room["version"], 4);
    app.stop().await;
});

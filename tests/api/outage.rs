//! The database going away is a 503 that changes nothing, and the node recovers by itself.

use serde_json::json;

use crate::helpers::{Backend, TestDb, spawn_app};

#[actix_web::test]
async fn a_postgres_outage_is_503_with_nothing_half_done_and_then_recovers() {
    let app = spawn_app(Backend::Postgres).await;
    let pid = app.hotel(&["101"]).await;
    app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    let db = app.db().pg_name().unwrap().to_owned();

    // Take the database away: no new connections, and every existing one killed.
    TestDb::admin_sql(&format!(
        "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}';"
    ))
    .await;

    let status = format!("/api/v1/properties/{pid}/rooms/101/status");
    let r = app
        .post(&status, &json!({"cleanliness": "inspected"}))
        .await;
    assert_eq!((r.status, r.code()), (503, "unavailable"), "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains(&db),
        "no internals in the body: {message}"
    );
    let r = app.get(&format!("/api/v1/properties/{pid}/rooms")).await;
    assert_eq!((r.status, r.code()), (503, "unavailable"));
    let r = app.get("/ready").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["store"]["ok"], false);

    // Back again: the failed command left nothing, the same command now works.
    TestDb::admin_sql(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).await;
    let r = app.get("/ready").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let room = app
        .get(&format!("/api/v1/properties/{pid}/rooms/101"))
        .await
        .body;
    assert_eq!(
        (room["cleanliness"].as_str(), room["version"].as_u64()),
        (Some("clean"), Some(2))
    );
    let room = app
        .set_status(&pid, "101", json!({"cleanliness": "inspected"}))
        .await;
    assert_eq!(room["version"], 3);
    app.stop().await;
}

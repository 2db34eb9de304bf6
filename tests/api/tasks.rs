//! Housekeeping tasks: the end-to-end story from a check-out to an inspected room on the front
//! desk's board, live on every screen; who may do what with a task; a failed inspection.

use serde_json::{Value, json};

use crate::{
    both,
    helpers::{TestApp, WsClient, spawn_app},
    reservations::{book, event_of, guest, today},
};

/// A staff user of `pid`: (user id, access token).
async fn staff(app: &TestApp, pid: &str, role: &str) -> (String, String) {
    let email = format!("{role}-{}@{}.test", uuid::Uuid::new_v4(), &pid[..8]);
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/users"),
            &json!({"email": email, "name": role, "role": role, "password": "password-for-tests"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let login = app.login(&email, "password-for-tests", None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    (id, login.body["access_token"].as_str().unwrap().to_owned())
}

/// Reads the room board until room `number` reaches `cleanliness`.
async fn room_becomes(ws: &mut WsClient, pid: &str, number: &str, cleanliness: &str) {
    loop {
        let f = event_of(ws, &format!("rooms:{pid}"), "cleanliness_changed").await;
        if f["state"]["number"] == number && f["state"]["cleanliness"] == cleanliness {
            return;
        }
    }
}

async fn task_act(
    app: &TestApp,
    token: &str,
    tid: &str,
    action: &str,
    body: Value,
) -> crate::helpers::Reply {
    app.post_as(Some(token), &format!("/api/v1/tasks/{tid}/{action}"), &body)
        .await
}

both!(
    a_check_out_reaches_the_housekeepers_phone_and_ends_with_an_inspected_room_on_the_board,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/settings"),
                &json!({"require_inspected": true}),
            )
            .await;
        assert_eq!(r.status, 200);
        let (ann, ann_token) = staff(&app, &pid, "housekeeper").await;
        let (_, desk) = staff(&app, &pid, "front_desk").await;
        let (sup, sup_token) = staff(&app, &pid, "manager").await;
        let gid = guest(&app, &pid).await;
        let day = today(&app, &pid).await;
        // A guest in house in 101.
        let res = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": day.to_string(), "departure": (day + chrono::Days::new(1)).to_string()}),
        )
        .await;
        let rid = res.body["id"].as_str().unwrap().to_owned();
        for (action, body) in [("assign", json!({"room": "101"})), ("check-in", json!({}))] {
            if action == "check-in" {
                app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
                    .await;
                app.set_status(&pid, "101", json!({"cleanliness": "inspected"}))
                    .await;
            }
            let r = app
                .post(&format!("/api/v1/reservations/{rid}/{action}"), &body)
                .await;
            assert_eq!(r.status, 200, "{action}: {}", r.body);
        }
        // Three screens: the housekeeper's phone, the supervisor's board, the front desk.
        let mut phone = WsClient::connect(app.port, &ann_token).await;
        let queue = phone.subscribe(&format!("tasks:user:{ann}")).await;
        assert_eq!(queue["snapshot"]["tasks"], json!([]));
        let mut board = WsClient::connect(app.port, &sup_token).await;
        board.subscribe(&format!("tasks:{pid}")).await;
        let mut front = WsClient::connect(app.port, &desk).await;
        front.subscribe(&format!("rooms:{pid}")).await;

        // Check-out: the room is dirty and a departure clean exists, unassigned.
        let r = app
            .post(&format!("/api/v1/reservations/{rid}/check-out"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let listed = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
        assert_eq!(
            listed.body["tasks"].as_array().map(Vec::len),
            Some(1),
            "{}",
            listed.body
        );
        let created = event_of(&mut board, &format!("tasks:{pid}"), "task_created").await;
        let task = created["state"].clone();
        assert_eq!(
            (task["kind"].as_str(), task["status"].as_str()),
            (Some("departure"), Some("created"))
        );
        assert_eq!(task["room_number"], "101");
        assert_eq!(task["reservation_id"], rid.as_str());
        let tid = task["id"].as_str().unwrap().to_owned();

        // The supervisor assigns it: it appears on Ann's phone.
        let r = task_act(&app, &sup_token, &tid, "assign", json!({"to": ann})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let f = event_of(&mut phone, &format!("tasks:user:{ann}"), "task_assigned").await;
        assert_eq!(f["state"]["id"], tid.as_str());
        // Ann works it from her phone.
        for action in ["start", "complete"] {
            let r = task_act(&app, &ann_token, &tid, action, json!({})).await;
            assert_eq!(r.status, 200, "{action}: {}", r.body);
        }
        event_of(&mut phone, &format!("tasks:user:{ann}"), "task_completed").await;
        // The front desk sees 101 clean at once; an inspection waits on the board.
        room_becomes(&mut front, &pid, "101", "dirty").await;
        room_becomes(&mut front, &pid, "101", "clean").await;
        let f = event_of(&mut board, &format!("tasks:{pid}"), "task_created").await;
        assert_eq!(f["state"]["kind"], "inspection");
        assert_eq!(f["state"]["inspects"], tid.as_str());
        let inspection = f["state"]["id"].as_str().unwrap().to_owned();

        // The supervisor inspects and passes it: the board shows 101 inspected.
        for (action, body) in [
            ("assign", json!({"to": sup})),
            ("start", json!({})),
            ("complete", json!({})),
        ] {
            let r = task_act(&app, &sup_token, &inspection, action, body).await;
            assert_eq!(r.status, 200, "{action}: {}", r.body);
        }
        room_becomes(&mut front, &pid, "101", "inspected").await;
        let board_now = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
        assert_eq!(board_now.body["tasks"], json!([]), "nothing left open");
        // Each task is a stream in the audit trail.
        let trail = app
            .get(&format!("/api/v1/properties/{pid}/audit?stream=task:{tid}"))
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
                "task_created",
                "task_assigned",
                "task_started",
                "task_completed"
            ]
        );
    }
);

both!(
    housekeepers_work_only_their_own_tasks_and_a_failed_inspection_reopens_the_cleaning,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/settings"),
                &json!({"require_inspected": true}),
            )
            .await;
        assert_eq!(r.status, 200);
        let (ann, ann_token) = staff(&app, &pid, "housekeeper").await;
        let (bob, bob_token) = staff(&app, &pid, "housekeeper").await;
        let (sup, sup_token) = staff(&app, &pid, "manager").await;
        let (_, desk) = staff(&app, &pid, "front_desk").await;
        let create = |room: &str, assignee: &str| json!({"kind": "departure", "room": room, "assignee": assignee, "note": "VIP arriving"});
        let r = app
            .post_as(
                Some(&ann_token),
                &format!("/api/v1/properties/{pid}/tasks"),
                &create("101", &ann),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden"),
            "housekeepers do not create tasks"
        );
        let r = app
            .post_as(
                Some(&desk),
                &format!("/api/v1/properties/{pid}/tasks"),
                &create("101", &ann),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "assigned");
        assert_eq!(r.body["notes"][0]["text"], "VIP arriving");
        let tid = r.body["id"].as_str().unwrap().to_owned();
        // Bad input: a guest, an unknown room, a restaurant user as assignee.
        let (waiter, _) = staff(&app, &pid, "restaurant").await;
        for (body, status, code) in [
            (json!({"kind": "broom"}), 400, "invalid_body"),
            (
                json!({"kind": "check", "room": "999"}),
                404,
                "room_not_found",
            ),
            (
                json!({"kind": "check", "assignee": waiter}),
                422,
                "validation_failed",
            ),
        ] {
            let r = app
                .post(&format!("/api/v1/properties/{pid}/tasks"), &body)
                .await;
            assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.body);
        }

        // Bob cannot touch Ann's task, nor see her queue; Ann sees only her own.
        let r = task_act(&app, &bob_token, &tid, "start", json!({})).await;
        assert_eq!((r.status, r.code()), (403, "not_your_task"));
        let r = app
            .get_as(
                Some(&bob_token),
                &format!("/api/v1/properties/{pid}/tasks?assignee={ann}"),
            )
            .await;
        assert_eq!(r.status, 403);
        let mut bob_ws = WsClient::connect(app.port, &bob_token).await;
        bob_ws
            .send(json!({"op": "subscribe", "topic": format!("tasks:user:{ann}"), "id": 1}))
            .await;
        let f = bob_ws.next_json().await;
        assert_eq!(f["code"], "forbidden", "{f}");
        bob_ws
            .send(json!({"op": "subscribe", "topic": format!("tasks:{pid}"), "id": 2}))
            .await;
        assert_eq!(bob_ws.next_json().await["code"], "forbidden");
        let mine = app
            .get_as(Some(&ann_token), &format!("/api/v1/properties/{pid}/tasks"))
            .await;
        assert_eq!(mine.body["tasks"].as_array().unwrap().len(), 1);
        let r = task_act(&app, &ann_token, &tid, "assign", json!({"to": bob})).await;
        assert_eq!(r.status, 403, "assigning is the supervisor's");

        // Ann: DND puts it on hold; she cannot cancel work; the supervisor cannot reassign it
        // while in progress.
        assert_eq!(
            task_act(&app, &ann_token, &tid, "start", json!({}))
                .await
                .status,
            200
        );
        let r = task_act(&app, &sup_token, &tid, "cancel", json!({"reason": "x"})).await;
        assert_eq!((r.status, r.code()), (422, "cancel_in_progress"));
        // The guest hangs the DND sign: Ann's task waits, at the end of her queue.
        let mut phone = WsClient::connect(app.port, &ann_token).await;
        phone.subscribe(&format!("tasks:user:{ann}")).await;
        app.set_status(
            &pid,
            "101",
            json!({"hk_occupancy": "occupied", "service": "dnd"}),
        )
        .await;
        let f = event_of(&mut phone, &format!("tasks:user:{ann}"), "task_held").await;
        assert_eq!(
            (f["state"]["status"].as_str(), f["state"]["hold"].as_str()),
            (Some("on_hold"), Some("dnd"))
        );
        let r = task_act(&app, &ann_token, &tid, "hold", json!({"hold": "dnd"})).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "illegal_transition"),
            "already on hold"
        );
        assert_eq!(
            task_act(&app, &ann_token, &tid, "resume", json!({}))
                .await
                .status,
            200
        );
        assert_eq!(
            task_act(
                &app,
                &ann_token,
                &tid,
                "note",
                json!({"text": "extra towels"})
            )
            .await
            .status,
            200
        );
        assert_eq!(
            task_act(&app, &ann_token, &tid, "complete", json!({}))
                .await
                .status,
            200
        );
        let room = app
            .get(&format!("/api/v1/properties/{pid}/rooms/101"))
            .await;
        assert_eq!(room.body["cleanliness"], "clean");

        // The property inspects: the finished cleaning left an inspection on the board.
        let board = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
        let inspection = board.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["kind"] == "inspection" && t["inspects"] == tid.as_str())
            .unwrap_or_else(|| panic!("no inspection in {}", board.body));
        let insp = inspection["id"].as_str().unwrap().to_owned();
        assert_eq!(
            task_act(&app, &sup_token, &insp, "assign", json!({"to": sup}))
                .await
                .status,
            200
        );
        let r = task_act(&app, &sup_token, &insp, "fail", json!({"reason": "dusty"})).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "illegal_transition"),
            "not started"
        );
        assert_eq!(
            task_act(&app, &sup_token, &insp, "start", json!({}))
                .await
                .status,
            200
        );
        // It fails: the cleaning is back in Ann's queue by itself, with the reason.
        let r = task_act(&app, &sup_token, &insp, "fail", json!({"reason": "dusty"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.body["status"].as_str(), r.body["failed"].as_bool()),
            (Some("done"), Some(true))
        );
        let cleaning = app.get(&format!("/api/v1/tasks/{tid}")).await;
        assert_eq!(
            (
                cleaning.body["status"].as_str(),
                cleaning.body["assignee"].as_str()
            ),
            (Some("assigned"), Some(ann.as_str()))
        );
        let trail = app
            .get(&format!("/api/v1/properties/{pid}/audit?stream=task:{tid}"))
            .await;
        let last = trail.body["events"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            (last["kind"].as_str(), last["actor"].as_str()),
            (Some("task_reopened"), Some("system:inspection"))
        );
        assert_eq!(last["payload"]["reason"], "dusty");
        let queue = app
            .get_as(Some(&ann_token), &format!("/api/v1/properties/{pid}/tasks"))
            .await;
        assert_eq!(queue.body["tasks"][0]["id"], tid.as_str());
        let r = app
            .get(&format!("/api/v1/tasks/{}", uuid::Uuid::new_v4()))
            .await;
        assert_eq!((r.status, r.code()), (404, "task_not_found"));
    }
);

both!(
    auto_assignment_balances_credits_over_whoever_is_on_duty_in_their_section,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&[]).await;
        let rooms: Vec<Value> = [
            ("101", 1),
            ("102", 1),
            ("103", 1),
            ("104", 1),
            ("201", 2),
            ("202", 2),
            ("203", 2),
        ]
        .iter()
        .map(|(n, f)| json!({"number": n, "floor": f, "room_type": "KING"}))
        .collect();
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/rooms"),
                &Value::Array(rooms),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let (ann, _) = staff(&app, &pid, "housekeeper").await;
        let (bob, _) = staff(&app, &pid, "housekeeper").await;
        let (cid, _) = staff(&app, &pid, "housekeeper").await;
        let (dan, _) = staff(&app, &pid, "housekeeper").await;
        let (mo, _) = staff(&app, &pid, "maintenance").await;
        let (sup, _) = staff(&app, &pid, "manager").await;
        // Dan is not on duty today.
        for (user, floors) in [
            (&ann, json!([1])),
            (&bob, json!([2])),
            (&cid, json!([])),
            (&mo, json!([])),
            (&sup, json!([])),
        ] {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/shifts"),
                    &json!({"user_id": user, "floors": floors}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let roster = app.get(&format!("/api/v1/properties/{pid}/shifts")).await;
        assert_eq!(roster.body["shifts"].as_array().unwrap().len(), 5);
        // Whom a supervisor may give work: cleaning, repair and inspecting staff, with today's
        // shift; names and roles, never emails.
        let people = app.get(&format!("/api/v1/properties/{pid}/staff")).await;
        assert_eq!(people.status, 200, "{}", people.body);
        let people = people.body["staff"].as_array().unwrap().clone();
        let find = |id: &str| {
            people
                .iter()
                .find(|p| p["user_id"] == id)
                .unwrap_or_else(|| panic!("{id} missing from {people:?}"))
                .clone()
        };
        assert_eq!(people.len(), 6, "{people:?}");
        assert_eq!(find(&ann)["floors"], json!([1]));
        assert_eq!(find(&ann)["on_duty"], true);
        assert_eq!(find(&dan)["on_duty"], false);
        assert_eq!(find(&mo)["role"], "maintenance");
        assert_eq!(find(&sup)["role"], "manager");
        assert!(
            people.iter().all(|p| p.get("email").is_none()),
            "{people:?}"
        );
        let (waiter, _) = staff(&app, &pid, "restaurant").await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/shifts"),
                &json!({"user_id": waiter}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "only cleaning and repair staff"
        );

        let work = [
            ("departure", "101"),
            ("stayover", "102"),
            ("check", "103"),
            ("departure", "104"),
            ("departure", "201"),
            ("pickup", "202"),
            ("stayover", "203"),
            ("maintenance", "102"),
            ("inspection", "203"),
        ];
        for (kind, room) in work {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/tasks"),
                    &json!({"kind": kind, "room": room}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/tasks/auto-assign"),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["assigned"].as_array().unwrap().len(),
            work.len(),
            "{}",
            r.body
        );

        let board = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
        let credits = |kind: &str| match kind {
            "departure" => 3,
            "stayover" | "inspection" | "maintenance" => 2,
            _ => 1,
        };
        let mut load = std::collections::BTreeMap::<String, u32>::new();
        for t in board.body["tasks"].as_array().unwrap() {
            let who = t["assignee"].as_str().unwrap().to_owned();
            let (kind, room) = (
                t["kind"].as_str().unwrap(),
                t["room_number"].as_str().unwrap(),
            );
            match kind {
                "maintenance" => assert_eq!(who, mo),
                "inspection" => assert_eq!(who, sup),
                _ => {
                    assert!(
                        who != dan && who != mo && who != sup,
                        "{kind} {room} → {who}"
                    );
                    // Ann covers floor 1 only, Bob floor 2 only.
                    assert!(
                        !(who == ann && room.starts_with('2')),
                        "{room} is not in Ann's section"
                    );
                    assert!(
                        !(who == bob && room.starts_with('1')),
                        "{room} is not in Bob's section"
                    );
                    *load.entry(who).or_default() += credits(kind);
                }
            }
        }
        // 13 credits of cleaning over three people: nobody carries a departure more than another.
        let (min, max) = (load.values().min().unwrap(), load.values().max().unwrap());
        assert_eq!(load.len(), 3, "{load:?}");
        assert!(max - min <= 3, "unbalanced: {load:?}");
        // Nothing left to assign: a second run assigns nothing.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/tasks/auto-assign"),
                &json!({}),
            )
            .await;
        assert_eq!(r.body["assigned"], json!([]));
    }
);

#[actix_web::test]
async fn unassigned_and_overdue_tasks_escalate_to_the_supervisors_board_once() {
    let db =
        std::sync::Arc::new(crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite).await);
    let app = crate::helpers::spawn_app_with(db, |c| {
        c.actors.escalate_unassigned_after = std::time::Duration::from_millis(300);
        c.actors.escalation_scan = std::time::Duration::from_millis(100);
    })
    .await;
    let pid = app.hotel(&["101", "102"]).await;
    let (ann, _) = staff(&app, &pid, "housekeeper").await;
    let mut board = app.ws().await;
    board.subscribe(&format!("tasks:{pid}")).await;
    // Nobody takes the first; the second is taken but runs late.
    let lonely = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "check", "room": "101"}),
        )
        .await;
    let due = (chrono::Utc::now() + chrono::Duration::milliseconds(500)).to_rfc3339();
    let late = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "pickup", "room": "102", "assignee": ann, "due_at": due}),
        )
        .await;
    assert_eq!(
        (lonely.status, late.status),
        (201, 201),
        "{} {}",
        lonely.body,
        late.body
    );
    let mut raised = std::collections::BTreeMap::new();
    while raised.len() < 2 {
        let f = event_of(&mut board, &format!("tasks:{pid}"), "task_escalated").await;
        assert_eq!(f["state"]["priority"], "high");
        assert_eq!(f["event"]["actor"], "system:escalation");
        raised.insert(
            f["state"]["id"].as_str().unwrap().to_owned(),
            f["event"]["reason"].as_str().unwrap().to_owned(),
        );
    }
    assert_eq!(raised[lonely.body["id"].as_str().unwrap()], "unassigned");
    assert_eq!(raised[late.body["id"].as_str().unwrap()], "overdue");
    // Once each, however often the job runs.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let trail = app
        .get(&format!(
            "/api/v1/properties/{pid}/audit?stream=task:{}",
            lonely.body["id"].as_str().unwrap()
        ))
        .await;
    let escalations = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "task_escalated")
        .count();
    assert_eq!(escalations, 1);
}

both!(
    the_night_audit_leaves_a_stayover_clean_for_each_stay_that_continues,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let gid = guest(&app, &pid).await;
        let day = today(&app, &pid).await;
        // 101 stays three nights; 102 leaves tomorrow (a departure day gets no stayover).
        for (room, nights) in [("101", 3), ("102", 1)] {
            let r = book(&app, &pid, json!({"guest_id": gid, "room_type": "KING",
                "arrival": day.to_string(), "departure": (day + chrono::Days::new(nights)).to_string()})).await;
            let rid = r.body["id"].as_str().unwrap().to_owned();
            app.set_status(&pid, room, json!({"cleanliness": "clean"}))
                .await;
            for (action, body) in [("assign", json!({"room": room})), ("check-in", json!({}))] {
                let r = app
                    .post(&format!("/api/v1/reservations/{rid}/{action}"), &body)
                    .await;
                assert_eq!(r.status, 200, "{action}: {}", r.body);
            }
        }
        let r = app
            .post(&format!("/api/v1/properties/{pid}/night-audit"), &json!({}))
            .await;
        assert_eq!(r.body["rolled"], true, "{}", r.body);
        let board = app.get(&format!("/api/v1/properties/{pid}/tasks")).await;
        let tasks = board.body["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{}", board.body);
        assert_eq!(
            (tasks[0]["kind"].as_str(), tasks[0]["room_number"].as_str()),
            (Some("stayover"), Some("101"))
        );
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/settings"),
                &json!({"stayover_every_days": 31}),
            )
            .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"));
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/settings"),
                &json!({"stayover_every_days": 2}),
            )
            .await;
        assert_eq!(
            (
                r.status,
                r.body["stayover_every_days"].as_u64(),
                r.body["require_inspected"].as_bool()
            ),
            (200, Some(2), Some(false))
        );
    }
);

both!(
    a_repair_goes_to_every_maintenance_user_on_duty_and_the_first_claim_takes_it,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101"]).await;
        let (mo1, mo1_token) = staff(&app, &pid, "maintenance").await;
        let (mo2, mo2_token) = staff(&app, &pid, "maintenance").await;
        let (_, ann_token) = staff(&app, &pid, "housekeeper").await;
        for user in [&mo1, &mo2] {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/shifts"),
                    &json!({"user_id": user}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let mut phones = Vec::new();
        for (user, token) in [(&mo1, &mo1_token), (&mo2, &mo2_token)] {
            let mut ws = WsClient::connect(app.port, token).await;
            ws.subscribe(&format!("tasks:user:{user}")).await;
            phones.push((user.clone(), ws));
        }
        // A housekeeper reports a leak from the room she is cleaning.
        let r = app
            .post_as(
                Some(&ann_token),
                &format!("/api/v1/properties/{pid}/tasks"),
                &json!({"kind": "maintenance", "room": "101", "note": "tap drips"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let tid = r.body["id"].as_str().unwrap().to_owned();
        for (user, ws) in &mut phones {
            let f = event_of(ws, &format!("tasks:user:{user}"), "task_created").await;
            assert_eq!(f["state"]["id"], tid.as_str());
        }
        // What each could take: the repair for maintenance, not for the housekeeper (who sees
        // the unassigned cleaning instead); neither sees it in their own queue yet.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/tasks"),
                &json!({"kind": "departure", "room": "101"}),
            )
            .await;
        let cleaning = r.body["id"].as_str().unwrap().to_owned();
        let claimable = |token: &str| {
            let (app, pid, token) = (&app, &pid, token.to_owned());
            async move {
                let r = app
                    .get_as(
                        Some(&token),
                        &format!("/api/v1/properties/{pid}/tasks?claimable=true"),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                r.body["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(claimable(&mo1_token).await, vec![tid.clone()]);
        assert_eq!(claimable(&ann_token).await, vec![cleaning.clone()]);
        let own = app
            .get_as(Some(&mo1_token), &format!("/api/v1/properties/{pid}/tasks"))
            .await;
        assert_eq!(own.body["tasks"], json!([]), "{}", own.body);
        let bad = app
            .get_as(
                Some(&mo1_token),
                &format!("/api/v1/properties/{pid}/tasks?claimable=true&all=true"),
            )
            .await;
        assert_eq!((bad.status, bad.code()), (400, "invalid_query"));
        // Another hotel's list is not found, whatever the query.
        let other = app.hotel(&[]).await;
        for query in ["claimable=true", "claimable=true&all=true"] {
            let r = app
                .get_as(
                    Some(&mo1_token),
                    &format!("/api/v1/properties/{other}/tasks?{query}"),
                )
                .await;
            assert_eq!((r.status, r.code()), (404, "property_not_found"), "{query}");
        }
        // A housekeeper cannot take a repair; both maintenance users try at once: one wins.
        let r = task_act(&app, &ann_token, &tid, "claim", json!({})).await;
        assert_eq!((r.status, r.code()), (403, "not_claimable"));
        let (a, b2) = tokio::join!(
            task_act(&app, &mo1_token, &tid, "claim", json!({})),
            task_act(&app, &mo2_token, &tid, "claim", json!({}))
        );
        assert_eq!(
            [a.status, b2.status].iter().filter(|s| **s == 200).count(),
            1,
            "{} {}",
            a.body,
            b2.body
        );
        let winner = if a.status == 200 { &a } else { &b2 };
        let loser = if a.status == 200 { &b2 } else { &a };
        assert_eq!(winner.body["status"], "assigned");
        assert_eq!(
            (loser.status, loser.code()),
            (422, "already_taken"),
            "{} {}",
            loser.status,
            loser.body
        );
        let task = app.get(&format!("/api/v1/tasks/{tid}")).await;
        assert_eq!(task.body["assignee"], winner.body["assignee"]);
        // A claim after the race is told the same: already taken (never 403 by timing).
        let loser_token = if task.body["assignee"] == mo1.as_str() {
            &mo2_token
        } else {
            &mo1_token
        };
        let late = task_act(&app, loser_token, &tid, "claim", json!({})).await;
        assert_eq!(
            (late.status, late.code()),
            (422, "already_taken"),
            "{}",
            late.body
        );
        // Taken: nobody can claim it any more.
        assert!(claimable(&mo1_token).await.is_empty());
        assert!(claimable(&mo2_token).await.is_empty());
        // The winner may now work it (and block the room with the maintenance role).
        let winner_token = if task.body["assignee"] == mo1.as_str() {
            &mo1_token
        } else {
            &mo2_token
        };
        assert_eq!(
            task_act(&app, winner_token, &tid, "start", json!({}))
                .await
                .status,
            200
        );
    }
);

both!(
    finished_cleanings_use_linen_and_low_stock_alerts_the_supervisors_board,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let (ann, ann_token) = staff(&app, &pid, "housekeeper").await;
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/stock"),
                &json!({"item": "bath towels", "count": 6, "low_at": 3, "uses": {"departure": 2, "stayover": 1}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.body["count"].as_i64(), r.body["low"].as_bool()),
            (Some(6), Some(false))
        );
        let mut board = app.ws().await;
        board.subscribe(&format!("tasks:{pid}")).await;
        for (kind, room) in [("departure", "101"), ("stayover", "102")] {
            let t = app
                .post(
                    &format!("/api/v1/properties/{pid}/tasks"),
                    &json!({"kind": kind, "room": room, "assignee": ann}),
                )
                .await;
            let tid = t.body["id"].as_str().unwrap().to_owned();
            for action in ["start", "complete"] {
                assert_eq!(
                    task_act(&app, &ann_token, &tid, action, json!({}))
                        .await
                        .status,
                    200
                );
            }
        }
        // 6 − 2 − 1 = 3: at the threshold, the board is told once.
        let f = event_of(&mut board, &format!("tasks:{pid}"), "stock_low").await;
        assert_eq!(
            (f["state"]["item"].as_str(), f["state"]["count"].as_i64()),
            (Some("bath towels"), Some(3))
        );
        let stock = app.get(&format!("/api/v1/properties/{pid}/stock")).await;
        assert_eq!(
            (
                stock.body["stock"][0]["count"].as_i64(),
                stock.body["stock"][0]["low"].as_bool()
            ),
            (Some(3), Some(true))
        );
        // A delivery by hand; bad adjustments are refused and change nothing.
        let r = app
            .post(
                &format!("/api/v1/properties/{pid}/stock/bath%20towels/adjust"),
                &json!({"delta": 20, "reason": "laundry delivery"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["count"].as_i64(), r.body["low"].as_bool()),
            (200, Some(23), Some(false))
        );
        for (path, body, status, code) in [
            (
                "bath%20towels",
                json!({"delta": 0, "reason": "x"}),
                422,
                "validation_failed",
            ),
            (
                "bath%20towels",
                json!({"delta": 1, "reason": ""}),
                422,
                "validation_failed",
            ),
            (
                "soap",
                json!({"delta": 1, "reason": "x"}),
                409,
                "unknown_item",
            ),
        ] {
            let r = app
                .post(
                    &format!("/api/v1/properties/{pid}/stock/{path}/adjust"),
                    &body,
                )
                .await;
            assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.body);
        }
        let r = app
            .get_as(Some(&ann_token), &format!("/api/v1/properties/{pid}/stock"))
            .await;
        assert_eq!(r.status, 403, "stock is the supervisors'");
        // Every change is in the item's stream.
        let trail = app
            .get(&format!(
                "/api/v1/properties/{pid}/audit?stream=stock:{pid}:bath towels"
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
                "stock_counted",
                "stock_adjusted",
                "stock_adjusted",
                "stock_low",
                "stock_adjusted"
            ]
        );
    }
);

both!(
    an_arrival_given_a_room_puts_the_rooms_cleaning_first,
    |b| async move {
        let app = spawn_app(b).await;
        let pid = app.hotel(&["101", "102"]).await;
        let (_, sup_token) = staff(&app, &pid, "manager").await;
        let mut board = WsClient::connect(app.port, &sup_token).await;
        board.subscribe(&format!("tasks:{pid}")).await;
        let clean = |room: &str| {
            let (app, pid, room) = (&app, &pid, room.to_owned());
            async move {
                let r = app
                    .post(
                        &format!("/api/v1/properties/{pid}/tasks"),
                        &json!({"kind": "departure", "room": room}),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.body);
                assert_eq!(r.body["priority"], "normal");
                assert_eq!(r.body["arrival_today"], false);
                r.body["id"].as_str().unwrap().to_owned()
            }
        };
        let (in_101, in_102) = (clean("101").await, clean("102").await);
        let gid = guest(&app, &pid).await;
        let day = today(&app, &pid).await;
        let stay = |arrival: chrono::NaiveDate| {
            json!({"guest_id": gid, "room_type": "KING", "arrival": arrival.to_string(),
                "departure": (arrival + chrono::Days::new(2)).to_string()})
        };
        // Arriving tomorrow: nothing to hurry yet.
        let later = book(&app, &pid, stay(day + chrono::Days::new(1))).await;
        let later = later.body["id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                &format!("/api/v1/reservations/{later}/assign"),
                &json!({"room": "102"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Arriving today, given 101 while its clean is still to do: the clean is raised, by
        // the assignment itself (no client asked for it), and seen live.
        let now = book(&app, &pid, stay(day)).await;
        let now = now.body["id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                &format!("/api/v1/reservations/{now}/assign"),
                &json!({"room": "101"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let raised = event_of(&mut board, &format!("tasks:{pid}"), "arrival_expected").await;
        assert_eq!(raised["state"]["id"], in_101.as_str());
        assert_eq!(raised["state"]["priority"], "high");
        assert_eq!(raised["state"]["arrival_today"], true);
        let r = app.get(&format!("/api/v1/tasks/{in_101}")).await;
        assert_eq!(
            (
                r.body["priority"].as_str(),
                r.body["arrival_today"].as_bool()
            ),
            (Some("high"), Some(true))
        );
        let r = app.get(&format!("/api/v1/tasks/{in_102}")).await;
        assert_eq!(
            (
                r.body["priority"].as_str(),
                r.body["arrival_today"].as_bool()
            ),
            (Some("normal"), Some(false))
        );
    }
);

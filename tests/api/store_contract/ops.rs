//! The store contract, continued: staff access, request keys, the outbox, conversations,
//! venues, shifts, property settings and the audit trail, on both backends.

use bellhop::{
    domain::{
        Action, Agent, ReservationId, Role,
        chat::{Author, ChatCommand, Conversation, InboxStatus, MessageKind},
        ids::{ConversationId, PartyId, TableId, VenueId},
        venue::{
            NewParty, NewTable, Party as VenueParty, PartyKind, Shape, Table, Venue, VenueKind,
        },
    },
    persistence::{
        ApiKeyRecord, AuditQuery, OutboxEmail, RefreshOutcome, RefreshRecord, ReservationFilter,
        Shift, UserRecord,
    },
};
use chrono::{Duration, Utc};
use uuid::Uuid;

use super::*;

fn user(pid: Option<PropertyId>, email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        property_id: pid,
        email: email.into(),
        name: "Ada".into(),
        role: Role::FrontDesk,
        password_hash: "$argon2id$test".into(),
        totp_secret: None,
        totp_enabled: false,
        created_at: persistence::now(),
    }
}

async fn with_user(store: &Store, pid: PropertyId, email: &str) -> UserRecord {
    let u = user(Some(pid), email);
    store
        .commit(
            vec![event(&format!("user:{}", u.id), 1, pid)],
            vec![Projection::InsertUser(u.clone())],
        )
        .await
        .unwrap();
    u
}

both!(users_are_found_by_email_id_and_property, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let bea = with_user(store.as_ref(), p.id, "bea@example.org").await;
    let ada = with_user(store.as_ref(), p.id, "ada@example.org").await;
    assert_eq!(
        store.user_by_email("bea@example.org").await.unwrap(),
        Some(bea.clone())
    );
    assert_eq!(store.user(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.users(p.id).await.unwrap(), vec![ada.clone(), bea]);
    assert!(store.users(PropertyId::new()).await.unwrap().is_empty());
    // An admin belongs to no property; nobody else may.
    let admin = UserRecord {
        role: Role::Admin,
        ..user(None, "root@example.org")
    };
    store
        .commit(vec![], vec![Projection::InsertUser(admin.clone())])
        .await
        .unwrap();
    assert_eq!(store.user(admin.id).await.unwrap(), Some(admin));
    let stray = user(None, "stray@example.org");
    let refused = store
        .commit(vec![], vec![Projection::InsertUser(stray)])
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Constraint(c)) if c == "users_admin_has_no_property"),
        "{refused:?}"
    );
    // A taken email is a named constraint, whatever the case of the rest.
    let twin = user(Some(p.id), "ada@example.org");
    let taken = store
        .commit(vec![], vec![Projection::InsertUser(twin)])
        .await;
    assert!(matches!(taken, Err(StoreError::Constraint(c)) if c == "users_email_key"));
});

both!(
    a_totp_step_is_accepted_once_and_only_forward,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let u = with_user(store.as_ref(), p.id, "totp@example.org").await;
        store
            .commit(
                vec![],
                vec![Projection::SetTotp {
                    user_id: u.id,
                    secret: Some("JBSWY3DPEHPK3PXP".into()),
                    enabled: true,
                }],
            )
            .await
            .unwrap();
        let stored = store.user(u.id).await.unwrap().unwrap();
        assert_eq!(stored.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
        assert!(stored.totp_enabled);
        assert!(store.use_totp_step(u.id, 1000).await.unwrap());
        assert!(
            !store.use_totp_step(u.id, 1000).await.unwrap(),
            "a code works once"
        );
        assert!(
            !store.use_totp_step(u.id, 999).await.unwrap(),
            "never backwards"
        );
        assert!(store.use_totp_step(u.id, 1001).await.unwrap());
        assert!(!store.use_totp_step(Uuid::new_v4(), 5).await.unwrap());
    }
);

fn refresh(user_id: Uuid, family_id: Uuid, hash: &str, lifetime: Duration) -> RefreshRecord {
    let now = persistence::now();
    RefreshRecord {
        id: Uuid::new_v4(),
        user_id,
        family_id,
        token_hash: hash.into(),
        issued_at: now,
        expires_at: now + lifetime,
    }
}

both!(
    refresh_tokens_rotate_once_and_a_replay_revokes_the_family,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let u = with_user(store.as_ref(), p.id, "refresh@example.org").await;
        let family = Uuid::new_v4();
        store
            .insert_refresh(refresh(u.id, family, "h1", Duration::days(1)))
            .await
            .unwrap();
        let now = Utc::now();
        // The successor takes its user and family from the token presented.
        let next = refresh(Uuid::new_v4(), Uuid::new_v4(), "h2", Duration::days(1));
        assert_eq!(
            store.rotate_refresh("h1", next, now).await.unwrap(),
            RefreshOutcome::Rotated { user_id: u.id }
        );
        // Presenting h1 again is a replay: the family, h2 included, is revoked.
        let again = refresh(u.id, family, "h3", Duration::days(1));
        assert_eq!(
            store
                .rotate_refresh("h1", again.clone(), now)
                .await
                .unwrap(),
            RefreshOutcome::Reused
        );
        assert_eq!(
            store
                .rotate_refresh("h2", again.clone(), now)
                .await
                .unwrap(),
            RefreshOutcome::Invalid
        );
        assert_eq!(
            store.rotate_refresh("nothing", again, now).await.unwrap(),
            RefreshOutcome::Invalid
        );

        // An expired token is invalid; logging out revokes a family once.
        let other = Uuid::new_v4();
        store
            .insert_refresh(refresh(u.id, other, "old", Duration::seconds(-1)))
            .await
            .unwrap();
        let next = refresh(u.id, other, "h4", Duration::days(1));
        assert_eq!(
            store.rotate_refresh("old", next, now).await.unwrap(),
            RefreshOutcome::Invalid
        );
        store
            .insert_refresh(refresh(u.id, other, "live", Duration::days(1)))
            .await
            .unwrap();
        assert!(store.revoke_refresh("live", now).await.unwrap());
        assert!(!store.revoke_refresh("live", now).await.unwrap());
        assert!(!store.revoke_refresh("unknown", now).await.unwrap());
        let next = refresh(u.id, other, "h5", Duration::days(1));
        assert_eq!(
            store.rotate_refresh("live", next, now).await.unwrap(),
            RefreshOutcome::Invalid
        );
    }
);

both!(
    api_keys_are_found_by_hash_listed_and_revoked,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let key = |name: &str, hash: &str| ApiKeyRecord {
            id: Uuid::new_v4(),
            property_id: p.id,
            name: name.into(),
            key_hash: hash.into(),
            permissions: vec![Action::RoomRead, Action::PropertyRead],
            created_by: "user:contract".into(),
            created_at: persistence::now(),
            revoked_at: None,
        };
        let (first, second) = (key("locks", "k1"), key("bi", "k2"));
        for k in [&first, &second] {
            store
                .commit(vec![], vec![Projection::InsertApiKey(k.clone())])
                .await
                .unwrap();
        }
        assert_eq!(
            store.api_key_by_hash("k1").await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(store.api_key_by_hash("k3").await.unwrap(), None);
        assert_eq!(
            store.api_keys(p.id).await.unwrap(),
            vec![first.clone(), second.clone()]
        );
        let at = persistence::now();
        store
            .commit(vec![], vec![Projection::RevokeApiKey { id: first.id, at }])
            .await
            .unwrap();
        // Revoking again keeps the first time.
        store
            .commit(
                vec![],
                vec![Projection::RevokeApiKey {
                    id: first.id,
                    at: at + Duration::hours(1),
                }],
            )
            .await
            .unwrap();
        let revoked = store.api_key_by_hash("k1").await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(at));
    }
);

both!(
    request_keys_keep_the_first_answer_and_are_pruned,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let agent = Agent::user(Uuid::new_v4()).with_request_key("k-1".into());
        // Recorded in the command's transaction, with its first event.
        let mut e = event(&p.id.stream(), 2, p.id);
        e.actor = agent.clone();
        store.commit(vec![e], vec![]).await.unwrap();
        let recorded = store
            .request_record(agent.as_str(), "k-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded.stream.as_deref(), Some(p.id.stream().as_str()));
        assert_eq!(
            (recorded.seq, recorded.status, recorded.body),
            (Some(2), None, None)
        );
        let at = persistence::now();
        store
            .save_request_answer(agent.as_str(), "k-1", 201, "{\"ok\":1}", at)
            .await
            .unwrap();
        store
            .save_request_answer(agent.as_str(), "k-1", 500, "second", at)
            .await
            .unwrap();
        let answered = store
            .request_record(agent.as_str(), "k-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answered.status, Some(201));
        assert_eq!(answered.body.as_deref(), Some("{\"ok\":1}"));
        // Keys are per caller.
        assert_eq!(
            store.request_record("user:other", "k-1").await.unwrap(),
            None
        );
        // An answer without a command records the key too.
        store
            .save_request_answer("user:other", "k-2", 409, "refused", at)
            .await
            .unwrap();
        assert_eq!(
            store
                .request_record("user:other", "k-2")
                .await
                .unwrap()
                .unwrap()
                .status,
            Some(409)
        );
        assert_eq!(
            store
                .prune_request_keys(at - Duration::hours(1))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .prune_request_keys(at + Duration::seconds(1))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.request_record(agent.as_str(), "k-1").await.unwrap(),
            None
        );
    }
);

fn email(pid: PropertyId, key: &str) -> OutboxEmail {
    OutboxEmail {
        id: Uuid::new_v4(),
        property_id: pid,
        kind: "confirmation".into(),
        idempotency_key: key.into(),
        recipient: "guest@example.org".into(),
        subject: "Your stay".into(),
        body: "See you {guest_link}".into(),
        reservation_id: Some(ReservationId::new()),
        link_expires_at: Some(persistence::now() + Duration::days(3)),
        created_at: persistence::now(),
        attempts: 0,
    }
}

both!(the_outbox_queues_once_leases_and_retries, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let m = email(p.id, "confirm:1");
    store
        .commit(vec![], vec![Projection::EnqueueEmail(m.clone())])
        .await
        .unwrap();
    // The same idempotency key queues nothing more.
    store
        .commit(
            vec![],
            vec![Projection::EnqueueEmail(email(p.id, "confirm:1"))],
        )
        .await
        .unwrap();
    let now = Utc::now() + Duration::seconds(1);
    let lease = now + Duration::minutes(5);
    let claimed = store.claim_emails(now, lease, 10).await.unwrap();
    assert_eq!(
        claimed,
        vec![OutboxEmail {
            attempts: 1,
            ..m.clone()
        }]
    );
    // Leased: no other worker gets it until the lease ends.
    assert!(store.claim_emails(now, lease, 10).await.unwrap().is_empty());
    let retry_at = now + Duration::minutes(1);
    store
        .email_failed(m.id, retry_at, "421 try later")
        .await
        .unwrap();
    assert!(
        store.claim_emails(now, lease, 10).await.unwrap().is_empty(),
        "not due yet"
    );
    let again = store.claim_emails(retry_at, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    store.email_sent(m.id, retry_at).await.unwrap();
    // Sent is final: a late failure report does not queue it again.
    store.email_failed(m.id, retry_at, "late").await.unwrap();
    let later = retry_at + Duration::hours(1);
    assert!(
        store
            .claim_emails(later, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
});

both!(
    property_settings_and_the_business_date_move_as_told,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        store
            .commit(
                vec![],
                vec![Projection::SetRequireInspected {
                    property_id: p.id,
                    require_inspected: true,
                    stayover_every_days: 3,
                }],
            )
            .await
            .unwrap();
        let set = store.property(p.id).await.unwrap().unwrap();
        assert!(set.require_inspected);
        assert_eq!(set.stayover_every_days, 3);
        let audit = |from, to| Projection::SetBusinessDate {
            property_id: p.id,
            from,
            to,
        };
        let (d1, d2) = (date("2026-12-01"), date("2026-12-02"));
        store.commit(vec![], vec![audit(None, d1)]).await.unwrap();
        // Another node rolled the date already: refused, nothing written.
        let late = store.commit(vec![], vec![audit(None, d2)]).await;
        assert!(matches!(late, Err(StoreError::Constraint(c)) if c == "business_date_moved"));
        store
            .commit(vec![], vec![audit(Some(d1), d2)])
            .await
            .unwrap();
        assert_eq!(
            store.property(p.id).await.unwrap().unwrap().business_date,
            Some(d2)
        );
    }
);

both!(shifts_put_people_on_and_off_duty, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let day = date("2026-12-02");
    let shift = |user_id, floors: Vec<i16>| Shift {
        property_id: p.id,
        date: day,
        user_id,
        floors,
    };
    let a = with_user(store.as_ref(), p.id, "a@example.org").await.id;
    let b = with_user(store.as_ref(), p.id, "b@example.org").await.id;
    for s in [shift(a, vec![1, 2]), shift(b, vec![]), shift(a, vec![3])] {
        store
            .commit(
                vec![],
                vec![Projection::SetShift {
                    shift: s,
                    on_duty: true,
                }],
            )
            .await
            .unwrap();
    }
    let mut expected = vec![shift(a, vec![3]), shift(b, vec![])];
    expected.sort_by_key(|s| s.user_id);
    assert_eq!(store.shifts(p.id, day).await.unwrap(), expected);
    assert!(
        store
            .shifts(p.id, date("2026-12-03"))
            .await
            .unwrap()
            .is_empty()
    );
    store
        .commit(
            vec![],
            vec![Projection::SetShift {
                shift: shift(a, vec![]),
                on_duty: false,
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store.shifts(p.id, day).await.unwrap(),
        vec![shift(b, vec![])]
    );
});

/// A conversation of a new reservation (stored).
async fn conversation(store: &Store, pid: PropertyId) -> (Conversation, ReservationId) {
    let guest = with_guest(store, pid).await;
    let stay = stay_in(pid, &guest, None, "2026-12-01", "2026-12-03");
    write(store, &stay).await.unwrap();
    let reservation = stay.id;
    let (c, _) = Conversation::open(
        ConversationId::new(),
        pid,
        reservation,
        "Grace",
        persistence::now(),
    );
    (c, reservation)
}

async fn save(store: &Store, c: &Conversation) -> Result<(), StoreError> {
    store
        .commit(
            vec![event(
                &format!("conversation:{}", c.id),
                c.version,
                c.property_id,
            )],
            vec![Projection::UpsertConversation(c.clone())],
        )
        .await
}

both!(
    conversations_are_listed_waiting_and_present,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let (mut c, reservation) = conversation(store.as_ref(), p.id).await;
        save(store.as_ref(), &c).await.unwrap();
        assert_eq!(store.conversation(c.id).await.unwrap(), Some(c.clone()));
        assert!(
            store.conversations(p.id, None).await.unwrap().is_empty(),
            "nothing happened yet"
        );
        // One conversation per reservation.
        let (mut twin, _) = conversation(store.as_ref(), p.id).await;
        twin.reservation_id = reservation;
        let refused = save(store.as_ref(), &twin).await;
        assert!(
            matches!(refused, Err(StoreError::Constraint(x)) if x == "conversations_reservation_key")
        );

        let at = persistence::now();
        let reply = ChatCommand::Send {
            author: Author::Staff {
                user_id: Uuid::new_v4(),
            },
            kind: MessageKind::Text,
            body: "Your room is ready".into(),
        };
        for e in c.decide(&reply, at).unwrap() {
            c.apply(&e, at);
        }
        save(store.as_ref(), &c).await.unwrap();
        assert_eq!(
            store.conversations(p.id, None).await.unwrap(),
            vec![c.clone()]
        );
        assert_eq!(
            store.conversations(p.id, Some(c.status)).await.unwrap(),
            vec![c.clone()]
        );
        assert!(
            store
                .conversations(p.id, Some(InboxStatus::Archived))
                .await
                .unwrap()
                .is_empty()
        );
        // The reply waits unread: the email fallback's work, unless the guest is connected.
        let later = at + Duration::minutes(10);
        assert_eq!(
            store.conversations_waiting(later, later).await.unwrap(),
            vec![c.id]
        );
        assert!(
            store
                .conversations_waiting(at - Duration::minutes(1), later)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(!store.guest_present(c.id, later).await.unwrap());
        store
            .set_guest_presence(c.id, Some(later + Duration::minutes(1)))
            .await
            .unwrap();
        assert!(store.guest_present(c.id, later).await.unwrap());
        assert!(
            store
                .conversations_waiting(later, later)
                .await
                .unwrap()
                .is_empty()
        );
        store.set_guest_presence(c.id, None).await.unwrap();
        assert!(!store.guest_present(c.id, later).await.unwrap());
        // Never backwards.
        let mut stale = c.clone();
        stale.version -= 1;
        let refused = store
            .commit(vec![], vec![Projection::UpsertConversation(stale)])
            .await;
        assert!(matches!(refused, Err(StoreError::Constraint(x)) if x == "conversations_version"));
    }
);

fn venue(pid: PropertyId, name: &str) -> Venue {
    Venue {
        id: VenueId::new(),
        property_id: pid,
        name: name.into(),
        kind: VenueKind::Restaurant,
        sections: vec![],
        turn_times: Venue::default_turn_times(),
        pacing: Some(6),
        hold_minutes: 10,
        combinations: vec![],
        version: 1,
        created_at: persistence::now(),
    }
}

fn table(v: &Venue, name: &str) -> Table {
    let spec = NewTable {
        name: name.into(),
        section: None,
        min_seats: 1,
        max_seats: 4,
        x: 0.0,
        y: 0.0,
        shape: Shape::default(),
    };
    Table::create(TableId::new(), v, spec).unwrap().0
}

fn booking(v: &Venue, tables: &[&Table], size: u16, starts: chrono::DateTime<Utc>) -> VenueParty {
    let spec = NewParty {
        kind: PartyKind::Booking,
        name: "Lovelace".into(),
        phone: None,
        size,
        tables: tables.iter().map(|t| t.id).collect(),
        starts_at: starts,
        ends_at: starts + Duration::minutes(90),
        quoted_minutes: None,
        reservation_id: None,
    };
    VenueParty::create(PartyId::new(), v, spec, persistence::now())
        .unwrap()
        .0
}

both!(
    venues_tables_and_parties_read_back_and_hold_tables_once,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let (terrace, bar) = (venue(p.id, "Terrace"), venue(p.id, "Bar"));
        for v in [&terrace, &bar] {
            store
                .commit(vec![], vec![Projection::UpsertVenue(v.clone())])
                .await
                .unwrap();
        }
        assert_eq!(
            store.venue(terrace.id).await.unwrap(),
            Some(terrace.clone())
        );
        assert_eq!(
            store.venues(p.id).await.unwrap(),
            vec![bar.clone(), terrace.clone()]
        );
        let (t2, t1) = (table(&terrace, "T2"), table(&terrace, "T1"));
        for t in [&t2, &t1] {
            store
                .commit(vec![], vec![Projection::UpsertTable(t.clone())])
                .await
                .unwrap();
        }
        assert_eq!(store.venue_table(t1.id).await.unwrap(), Some(t1.clone()));
        assert_eq!(
            store.venue_tables(terrace.id).await.unwrap(),
            vec![t1.clone(), t2.clone()]
        );
        let twin = table(&terrace, "T1");
        let taken = store
            .commit(vec![], vec![Projection::UpsertTable(twin)])
            .await;
        assert!(matches!(taken, Err(StoreError::Constraint(c)) if c == "venue_tables_name_key"));

        let seven = "2026-12-02T19:00:00Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap();
        let first = booking(&terrace, &[&t1], 2, seven);
        store
            .commit(vec![], vec![Projection::UpsertParty(first.clone())])
            .await
            .unwrap();
        assert_eq!(store.party(first.id).await.unwrap(), Some(first.clone()));
        let evening = (seven - Duration::hours(2), seven + Duration::hours(3));
        assert_eq!(
            store
                .parties(terrace.id, evening.0, evening.1)
                .await
                .unwrap(),
            vec![first.clone()]
        );
        assert!(
            store
                .parties(terrace.id, seven + Duration::hours(1), evening.1)
                .await
                .unwrap()
                .is_empty()
        );
        let slots = store
            .schedule(terrace.id, evening.0, evening.1)
            .await
            .unwrap();
        assert_eq!(slots.len(), 1);
        assert_eq!((slots[0].table, slots[0].party), (t1.id, first.id));
        assert_eq!(
            (slots[0].starts_at, slots[0].ends_at),
            (first.starts_at, first.ends_at)
        );
        // A second party on the same table at an overlapping time is refused.
        let clash = booking(&terrace, &[&t1], 2, seven + Duration::minutes(30));
        let refused = store
            .commit(vec![], vec![Projection::UpsertParty(clash.clone())])
            .await;
        assert!(
            matches!(refused, Err(StoreError::Constraint(c)) if c == "party_tables_no_overlap")
        );
        assert_eq!(
            store.party(clash.id).await.unwrap(),
            None,
            "nothing of it was written"
        );
        let beside = booking(&terrace, &[&t2], 2, seven + Duration::minutes(30));
        store
            .commit(vec![], vec![Projection::UpsertParty(beside)])
            .await
            .unwrap();

        // Pacing: covers starting in the slot, not counting the party being judged.
        let pacing = |party: PartyId, size| Projection::CheckPacing {
            venue_id: terrace.id,
            party,
            from: seven,
            to: seven + Duration::minutes(15),
            size,
            limit: 6,
        };
        store
            .commit(vec![], vec![pacing(PartyId::new(), 4)])
            .await
            .unwrap();
        let full = store.commit(vec![], vec![pacing(PartyId::new(), 5)]).await;
        assert!(matches!(full, Err(StoreError::Constraint(c)) if c == "pacing_full"));
        store
            .commit(vec![], vec![pacing(first.id, 6)])
            .await
            .unwrap();
    }
);

both!(
    the_audit_trail_narrows_by_stream_actor_and_time,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let room = with_room(store.as_ref(), p.id, "301").await;
        let someone = Agent::user(Uuid::new_v4());
        let mut by_someone = event(&room.id.stream(), 2, p.id);
        by_someone.actor = someone.clone();
        by_someone.at = persistence::now() + Duration::seconds(1);
        store
            .commit(vec![by_someone.clone()], vec![])
            .await
            .unwrap();
        let all = store
            .audit(
                p.id,
                &AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 3, "the property's, the room's two");
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
        let q = |stream: Option<String>, actor: Option<&str>, from, to, limit| AuditQuery {
            stream,
            actor: actor.map(str::to_owned),
            from,
            to,
            limit,
        };
        let of_room = store
            .audit(p.id, &q(Some(room.id.stream()), None, None, None, 100))
            .await
            .unwrap();
        assert_eq!(
            of_room.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        let theirs = store
            .audit(p.id, &q(None, Some(someone.as_str()), None, None, 100))
            .await
            .unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].seq, 2);
        let t = by_someone.at;
        assert_eq!(
            store
                .audit(p.id, &q(None, None, Some(t), None, 100))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .audit(p.id, &q(None, None, None, Some(t), 100))
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            store
                .audit(p.id, &q(None, None, None, None, 1))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .audit(PropertyId::new(), &q(None, None, None, None, 100))
                .await
                .unwrap()
                .is_empty()
        );
    }
);

both!(
    guests_are_found_by_email_and_reservations_by_filter,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let grace = with_guest(store.as_ref(), p.id).await;
        let found = store
            .guests(p.id, Some("GRACE@example.ORG".into()), 10)
            .await
            .unwrap();
        assert_eq!(found, vec![grace.clone()], "any case");
        assert!(
            store
                .guests(p.id, Some("nobody@example.org".into()), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let other = with_guest(store.as_ref(), p.id).await;
        assert_eq!(store.guests(p.id, None, 10).await.unwrap().len(), 2);
        assert_eq!(store.guests(p.id, None, 1).await.unwrap().len(), 1);
        let ids = [grace.id, other.id, GuestId::new()];
        let mut by_id = store.guests_by_id(p.id, &ids).await.unwrap();
        by_id.sort_by_key(|g| g.id.0);
        let mut expected = vec![grace.clone(), other.clone()];
        expected.sort_by_key(|g| g.id.0);
        assert_eq!(by_id, expected);
        assert!(
            store
                .guests_by_id(PropertyId::new(), &ids)
                .await
                .unwrap()
                .is_empty()
        );

        let room = with_room(store.as_ref(), p.id, "401").await;
        let early = stay_in(p.id, &grace, Some(&room), "2026-12-01", "2026-12-03");
        let late = stay_in(p.id, &other, None, "2026-12-05", "2026-12-07");
        let mut gone = stay_in(p.id, &other, None, "2026-12-02", "2026-12-04");
        gone.status = ReservationStatus::Canceled;
        for r in [&late, &early, &gone] {
            write(store.as_ref(), r).await.unwrap();
        }
        let ids_of = |rs: Vec<Reservation>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let all = ReservationFilter::property(p.id);
        assert_eq!(
            ids_of(store.reservations(&all).await.unwrap()),
            vec![early.id, gone.id, late.id],
            "by arrival"
        );
        let nights = ReservationFilter {
            nights: Some((date("2026-12-02"), date("2026-12-03"))),
            ..all.clone()
        };
        assert_eq!(
            ids_of(store.reservations(&nights).await.unwrap()),
            vec![early.id, gone.id]
        );
        let live = ReservationFilter {
            statuses: vec![ReservationStatus::Confirmed],
            ..nights.clone()
        };
        assert_eq!(
            ids_of(store.reservations(&live).await.unwrap()),
            vec![early.id]
        );
        let in_room = ReservationFilter {
            room: Some(room.id),
            ..all.clone()
        };
        let stays = store.reservations(&in_room).await.unwrap();
        assert_eq!(stays, vec![early.clone()], "with the room's number joined");
        let of_guest = ReservationFilter {
            guest: Some(other.id),
            exclude: Some(gone.id),
            ..all.clone()
        };
        assert_eq!(
            ids_of(store.reservations(&of_guest).await.unwrap()),
            vec![late.id]
        );
        let before = ReservationFilter {
            arrival_before: Some(date("2026-12-02")),
            room_type: Some("TWIN".into()),
            ..all.clone()
        };
        assert_eq!(
            ids_of(store.reservations(&before).await.unwrap()),
            vec![early.id]
        );
    }
);

both!(
    the_inventory_check_refuses_a_sold_out_night,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let guest = with_guest(store.as_ref(), p.id).await;
        with_room(store.as_ref(), p.id, "501").await;
        let book = |r: &Reservation| {
            vec![
                Projection::CheckInventory {
                    property_id: p.id,
                    room_type: "TWIN".into(),
                    stay: r.stay,
                    exclude: r.id,
                },
                Projection::UpsertReservation {
                    reservation: r.clone(),
                    at: persistence::now(),
                },
            ]
        };
        let first = stay_in(p.id, &guest, None, "2026-12-10", "2026-12-12");
        store
            .commit(vec![event(&first.id.stream(), 1, p.id)], book(&first))
            .await
            .unwrap();
        // One TWIN room: a second stay sharing a night is refused, and nothing of it written.
        let second = stay_in(p.id, &guest, None, "2026-12-11", "2026-12-13");
        let refused = store
            .commit(vec![event(&second.id.stream(), 1, p.id)], book(&second))
            .await;
        assert!(matches!(refused, Err(StoreError::Constraint(c)) if c == "inventory_exhausted"));
        assert_eq!(store.reservation(second.id).await.unwrap(), None);
        assert_eq!(store.stream_version(&second.id.stream()).await.unwrap(), 0);
        // The night after is free, and a stay is not counted against its own amendment.
        let after = stay_in(p.id, &guest, None, "2026-12-12", "2026-12-13");
        store
            .commit(vec![event(&after.id.stream(), 1, p.id)], book(&after))
            .await
            .unwrap();
        let mut longer = first.clone();
        longer.version = 2;
        longer.stay = Stay::new(date("2026-12-09"), date("2026-12-12")).unwrap();
        store
            .commit(vec![event(&first.id.stream(), 2, p.id)], book(&longer))
            .await
            .unwrap();
    }
);

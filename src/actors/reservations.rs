//! Reservations on this node: booking (with the inventory guarantee), the actors of existing
//! reservations, the waitlist, and the night audit.
//!
//! Booking needs no actor: the reservation does not exist yet, and what must not be oversold
//! (a room type's nights) belongs to no single entity. The store judges it instead, under a
//! lock per property and room type inside the writing transaction
//! ([`Projection::CheckInventory`]), which holds across nodes.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Deserialize;

use super::{
    CommandError, RoomRegistry,
    entity::row,
    registry::{Registry, Replicas, Shared},
    reservation::{Request, ReservationHandle, publication},
};
use crate::{
    domain::notice::Notice,
    domain::{
        Agent, PropertyId, Reservation, ReservationId, ReservationStatus, Stay,
        reservation::{GuestId, NewReservation, Party, ReservationEvent},
    },
    persistence::{self, NewEvent, OutboxEmail, Projection, ReservationFilter, StoreError},
};

/// A booking as the front desk enters it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Booking {
    pub guest_id: GuestId,
    pub room_type: String,
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
    #[serde(default = "one")]
    pub adults: u8,
    #[serde(default)]
    pub children: u8,
    /// `true` books a tentative (held, not guaranteed) reservation.
    #[serde(default)]
    pub tentative: bool,
    /// When the type is sold out: put the booking on the waitlist instead of refusing it.
    #[serde(default)]
    pub waitlist: bool,
    /// When the type is sold out: sell it anyway (managers only; recorded as overbooked).
    #[serde(default)]
    pub overbook: bool,
    /// When the party is larger than the type sleeps: book it anyway (managers only;
    /// recorded as `occupancy_overridden`).
    #[serde(default)]
    pub override_occupancy: bool,
}

fn one() -> u8 {
    1
}

/// Finds or activates reservation actors, and books new reservations. Cheap to clone.
#[derive(Clone)]
pub struct Reservations {
    inner: Registry<Reservation>,
}

impl Reservations {
    pub(crate) fn start(shared: Arc<Shared>, rooms: RoomRegistry) -> Self {
        Self {
            inner: Registry::start(shared, rooms),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.inner.shared()
    }

    /// The actor of a reservation, activating it from the store if needed.
    pub async fn get(&self, id: ReservationId) -> Result<ReservationHandle, CommandError> {
        let store = &self.shared().store;
        self.inner
            .get(&id, async {
                Ok::<_, CommandError>(store.reservation(id).await?)
            })
            .await?
            .ok_or(CommandError::ReservationNotFound)
    }

    /// Executes `request` on a reservation; a change that frees inventory offers it to the
    /// waitlist.
    pub async fn execute(
        &self,
        id: ReservationId,
        request: Request,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<Reservation, CommandError> {
        let before = self.get(id).await?.state().await?;
        let frees = matches!(
            request,
            Request::Cancel { .. } | Request::NoShow | Request::CheckOut | Request::Amend(_)
        );
        let after = self
            .get(id)
            .await?
            .execute(request, expected_version, agent)
            .await?;
        if frees && before.status.holds_inventory() {
            self.offer_to_waitlist(before.property_id, &before.room_type, before.stay)
                .await;
        }
        Ok(after)
    }

    /// Books a reservation: within inventory, or waitlisted / overbooked when the caller
    /// asked for that and the type is sold out.
    pub async fn book(
        &self,
        property: PropertyId,
        booking: Booking,
        agent: &Agent,
    ) -> Result<Reservation, CommandError> {
        let store = &self.shared().store;
        let p = super::property::existing(store, property).await?;
        let guest = match store.guest(booking.guest_id).await? {
            Some(g) if g.property_id == property => g,
            _ => return Err(CommandError::GuestNotFound),
        };
        let mut spec = NewReservation {
            guest_id: booking.guest_id,
            room_type: booking.room_type.trim().to_owned(),
            stay: Stay {
                arrival: booking.arrival,
                departure: booking.departure,
            },
            party: Party {
                adults: booking.adults,
                children: booking.children,
            },
            status: if booking.tentative {
                ReservationStatus::Tentative
            } else {
                ReservationStatus::Confirmed
            },
            overbooked: false,
            occupancy_overridden: false,
        };
        // The party must fit the room type (a type nobody defined has no limit).
        let types = store.room_types(property).await?;
        let defined = types.iter().find(|t| t.code == spec.room_type);
        if let Some(t) = defined {
            spec.occupancy_overridden =
                spec.party
                    .fits(&t.code, t.max_occupancy, booking.override_occupancy)?;
            if spec.occupancy_overridden {
                tracing::info!(%property, agent = agent.as_str(), room_type = %spec.room_type,
                    "party beyond the type's occupancy on a manager's decision");
            }
        }
        let first = self
            .write_new(&p, spec.clone(), true, &guest.name, agent)
            .await;
        // "Sold out" of a type the hotel does not sell at all is a wrong type, not a full
        // house (and cannot be waitlisted or overbooked). Judged only here, on the refusal, so
        // a booking that fits never reads the rooms.
        if matches!(
            &first,
            Err(CommandError::Conflict {
                code: "sold_out",
                ..
            })
        ) && defined.is_none()
            && !store
                .rooms(property)
                .await?
                .iter()
                .any(|r| r.room_type == spec.room_type)
        {
            return Err(
                crate::domain::reservation::ReservationRefusal::UnknownRoomType(spec.room_type)
                    .into(),
            );
        }
        match first {
            Err(CommandError::Conflict {
                code: "sold_out", ..
            }) if booking.overbook => {
                spec.overbooked = true;
                tracing::info!(%property, agent = agent.as_str(), room_type = %spec.room_type,
                    "overbooking on a manager's decision");
                self.write_new(&p, spec, false, &guest.name, agent).await
            }
            Err(CommandError::Conflict {
                code: "sold_out", ..
            }) if booking.waitlist => {
                spec.status = ReservationStatus::Waitlisted;
                self.write_new(&p, spec, false, &guest.name, agent).await
            }
            other => other,
        }
        .inspect(|r| tracing::debug!(reservation = %r.id, status = r.status.as_str(), "booked"))
    }

    async fn write_new(
        &self,
        p: &crate::domain::Property,
        spec: NewReservation,
        check: bool,
        guest_name: &str,
        agent: &Agent,
    ) -> Result<Reservation, CommandError> {
        let at = persistence::now();
        let property = p.id;
        let day = p.day(at);
        let (reservation, event) =
            Reservation::create(ReservationId::new(), property, spec, day.business_date, at)?;
        let mut projections = Vec::new();
        if check {
            projections.push(Projection::CheckInventory {
                property_id: property,
                room_type: reservation.room_type.clone(),
                stay: reservation.stay,
                exclude: reservation.id,
            });
        }
        projections.push(Projection::UpsertReservation {
            reservation: reservation.clone(),
            at,
        });
        let created = [(1, event.clone(), reservation.clone())];
        projections.extend(notices(self.shared().store.as_ref(), &created, at).await?);
        let row = row(&reservation, &event, agent, at)?;
        // The stay's conversation with the hotel exists from the start, in the same
        // transaction (after the reservation's row, which it refers to).
        let (chat_row, chat, opened) =
            super::conversations::opening(&reservation, guest_name, agent, at)?;
        projections.push(chat);
        self.shared()
            .store
            .commit(vec![row, chat_row], projections)
            .await?;
        for p in opened {
            self.shared().bus.publish(p);
        }
        // A new reservation has no room yet: what may be done does not depend on one.
        if let Some(batch) = publication(&[(1, event, reservation.clone())], agent, at, &day, None)
        {
            self.shared().bus.publish(batch);
        }
        Ok(reservation)
    }

    /// Promotes, oldest first, every waitlisted reservation of `room_type` sharing a night with
    /// `freed` that fits now. Failures are logged: the freeing command itself has succeeded.
    pub async fn offer_to_waitlist(&self, property: PropertyId, room_type: &str, freed: Stay) {
        let filter = ReservationFilter {
            nights: Some((freed.arrival, freed.departure)),
            statuses: vec![ReservationStatus::Waitlisted],
            room_type: Some(room_type.to_owned()),
            ..ReservationFilter::property(property)
        };
        let mut waiting = match self.shared().store.reservations(&filter).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(%property, error = %e, "reading the waitlist failed");
                return;
            }
        };
        waiting.sort_by_key(|r| (r.created_at, r.id.0));
        for r in waiting {
            let promoted = match self.get(r.id).await {
                Ok(h) => {
                    h.execute(Request::Promote, None, Agent::system("waitlist"))
                        .await
                }
                Err(e) => Err(e),
            };
            match promoted {
                Ok(_) => tracing::info!(reservation = %r.id, "promoted from the waitlist"),
                Err(CommandError::Conflict {
                    code: "sold_out", ..
                }) => {}
                Err(e) => tracing::warn!(reservation = %r.id, error = %e, "promotion failed"),
            }
        }
    }

    /// Runs the night audit of `property` if it is due at `now` (or, with `force`, now): every
    /// reservation due before the next business date that never arrived becomes a no-show, then
    /// the business date moves on by one day. Safe to run on several nodes at once: each step
    /// is a command that a second runner finds already done. Answers the new business date if
    /// this call rolled it.
    pub async fn night_audit(
        &self,
        property: PropertyId,
        now: chrono::DateTime<chrono::Utc>,
        force: bool,
    ) -> Result<Option<NaiveDate>, CommandError> {
        let store = &self.shared().store;
        let p = super::property::existing(store, property).await?;
        let closing = p.business_date(now);
        // Due at 03:00 the next morning; run by hand, a day may be closed early (an evening
        // audit), but never a day that has not begun at the hotel: the business date does not
        // run ahead of the calendar.
        let due = if force {
            closing <= p.local_date(now)
        } else {
            now >= p.audit_due(closing)
        };
        if !due {
            return Ok(None);
        }
        let next = closing + chrono::Days::new(1);
        let filter = ReservationFilter {
            statuses: vec![ReservationStatus::Confirmed, ReservationStatus::Tentative],
            arrival_before: Some(next),
            ..ReservationFilter::property(property)
        };
        // First roll the date (so the no-show guard, "after the arrival date", holds), then
        // mark. A crash in between leaves no-shows for the next run to find: the filter takes
        // every arrival before the business date, not only yesterday's.
        let agent = Agent::system("night-audit");
        let seq = store.stream_version(&property.stream()).await? + 1;
        let row = NewEvent {
            stream: property.stream(),
            seq,
            property_id: Some(property),
            kind: "business_date_rolled".into(),
            payload: serde_json::json!({ "from": closing, "to": next }),
            actor: agent.clone(),
            at: persistence::now(),
        };
        let rolled = store
            .commit(
                vec![row],
                vec![Projection::SetBusinessDate {
                    property_id: property,
                    from: p.business_date,
                    to: next,
                }],
            )
            .await;
        match rolled {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(None),
            Err(StoreError::Constraint(c)) if c == persistence::BUSINESS_DATE_MOVED => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(%property, from = %closing, to = %next, "night audit rolled the business date");
        self.mark_no_shows(property, filter, &agent).await;
        self.create_stayovers(&p, next, &agent).await;
        Ok(Some(next))
    }

    /// The day's stayover cleans, by the property's policy: one for each in-house stay due
    /// one on `date`, unless its room already has an open cleaning. Each is its own small
    /// transaction; a failure is logged and the rest go on.
    async fn create_stayovers(&self, p: &crate::domain::Property, date: NaiveDate, agent: &Agent) {
        use crate::domain::task::{NewTask, Priority, TaskKind};
        let store = &self.shared().store;
        let filter = ReservationFilter {
            statuses: vec![ReservationStatus::InHouse],
            nights: Some((date, date + chrono::Days::new(1))),
            ..ReservationFilter::property(p.id)
        };
        let in_house = match store.reservations(&filter).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(property = %p.id, error = %e, "stayovers: reading stays failed");
                return;
            }
        };
        for r in in_house {
            let Some(room) = r.room.as_ref() else {
                continue;
            };
            if !p.stayover_due(r.stay.arrival, r.stay.departure, date) {
                continue;
            }
            let open = store
                .tasks(&crate::persistence::TaskFilter {
                    property: p.id,
                    open_only: true,
                    assignee: None,
                    room: Some(room.room_id),
                })
                .await;
            match open {
                Ok(open) if open.iter().any(|t| t.kind.cleans()) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(reservation = %r.id, error = %e, "stayovers: reading tasks failed");
                    continue;
                }
            }
            let at = persistence::now();
            let spec = NewTask {
                kind: TaskKind::Stayover,
                room: Some((room.room_id, room.number.clone())),
                priority: Priority::Normal,
                rush: false,
                reservation_id: Some(r.id),
                inspects: None,
                arrival_today: false,
                note: None,
                due_at: None,
            };
            let created = match crate::actors::task::new_task(p.id, spec, agent, at) {
                Ok((task, row, batch)) => store
                    .commit(vec![row], vec![Projection::UpsertTask(task)])
                    .await
                    .map(|()| batch)
                    .map_err(CommandError::from),
                Err(e) => Err(e),
            };
            match created {
                Ok(batch) => {
                    if let Some(published) = crate::actors::task::publication(&batch, agent, at) {
                        self.shared().bus.publish(published);
                    }
                }
                Err(e) => tracing::warn!(reservation = %r.id, error = %e, "stayover not created"),
            }
        }
    }

    async fn mark_no_shows(&self, property: PropertyId, filter: ReservationFilter, agent: &Agent) {
        let due = match self.shared().store.reservations(&filter).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%property, error = %e, "reading no-shows failed");
                return;
            }
        };
        for r in due {
            match self
                .execute(r.id, Request::NoShow, None, agent.clone())
                .await
            {
                Ok(_) => tracing::info!(reservation = %r.id, "marked a no-show"),
                Err(e) => tracing::warn!(reservation = %r.id, error = %e, "no-show failed"),
            }
        }
    }

    /// The audits that are due, for every property (the background job's tick).
    pub async fn run_due_audits(&self) {
        let props = match self.shared().store.properties().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "night audit: reading properties failed");
                return;
            }
        };
        for p in props {
            // Catch up one day per tick at most: a node that was down for days rolls them one
            // by one, each with its no-shows.
            if let Err(e) = self.night_audit(p.id, chrono::Utc::now(), false).await {
                tracing::warn!(property = %p.id, error = %e, "night audit failed");
            }
        }
    }

    /// The registry as the node sees every registry (remote batches, reloads, shutdown).
    pub(crate) fn replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.inner.clone())
    }
}

/// The outbox rows for the emails a batch of a reservation's events causes (read in the
/// command, written in its transaction). A guest without an email address gets none.
pub(crate) async fn notices(
    store: &crate::persistence::Store,
    events: &[(u64, ReservationEvent, Reservation)],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Projection>, CommandError> {
    let wanted: Vec<_> = events
        .iter()
        .filter_map(|(seq, e, after)| Notice::of(e, after).map(|n| (*seq, n, after)))
        .collect();
    let Some((_, _, first)) = wanted.first() else {
        return Ok(Vec::new());
    };
    let Some(guest) = store.guest(first.guest_id).await? else {
        return Ok(Vec::new());
    };
    let Some(email) = guest.email.clone() else {
        return Ok(Vec::new());
    };
    let property = super::property::existing(store, first.property_id).await?;
    Ok(wanted
        .into_iter()
        .map(|(seq, notice, r)| {
            let (subject, body) = notice.compose(&property.name, &guest.name, r);
            Projection::EnqueueEmail(OutboxEmail {
                id: uuid::Uuid::new_v4(),
                property_id: r.property_id,
                kind: notice.kind().into(),
                idempotency_key: format!("{}:{seq}", r.id.stream()),
                recipient: email.clone(),
                subject,
                body,
                reservation_id: Some(r.id),
                // The link works until the day after departure.
                link_expires_at: Some(property.night(r.stay.departure).1),
                created_at: at,
                attempts: 0,
            })
        })
        .collect())
}

/// Whether an event changes what is sold.
pub(crate) fn moves_inventory(e: &ReservationEvent) -> bool {
    matches!(
        e,
        ReservationEvent::ReservationCreated { .. }
            | ReservationEvent::Promoted
            | ReservationEvent::Canceled { .. }
            | ReservationEvent::MarkedNoShow { .. }
            | ReservationEvent::Amended { .. }
            | ReservationEvent::CheckedOut { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        actors::{Actors, catalog, property::create_property},
        config::ActorConfig,
        events::LocalBus,
        metrics::Metrics,
    };

    /// The job, not the button: with the stored business date three days behind the hotel's
    /// calendar, each run of the job closes exactly one day (its no-shows included), so a node
    /// that was down catches up day by day.
    #[actix_rt::test]
    async fn the_audit_job_closes_one_overdue_day_per_run_with_its_no_shows() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<crate::persistence::Store> = Arc::new(
            crate::persistence::Store::open_sqlite(&dir.path().join("t.db"))
                .await
                .unwrap(),
        );
        let metrics = Arc::new(Metrics::default());
        let actors = Actors::start(
            Arc::clone(&store),
            Arc::new(LocalBus::discarding()),
            metrics,
            ActorConfig::default(),
        );
        let agent = Agent::system("test");
        let p = create_property(store.as_ref(), "T", "Europe/Berlin", &agent)
            .await
            .unwrap();
        let local = p.local_date(chrono::Utc::now());
        let behind = local - chrono::Days::new(3);
        store
            .commit(
                Vec::new(),
                vec![Projection::SetBusinessDate {
                    property_id: p.id,
                    from: None,
                    to: behind,
                }],
            )
            .await
            .unwrap();
        let guest = catalog::create_guest(
            store.as_ref(),
            p.id,
            serde_json::from_value(serde_json::json!({"name": "G"})).unwrap(),
            &agent,
        )
        .await
        .unwrap();
        // A type the hotel sells, though it has no rooms yet: these are overbooked.
        catalog::put_room_type(
            store.as_ref(),
            crate::domain::RoomType {
                property_id: p.id,
                code: "KING".into(),
                name: "King".into(),
                max_occupancy: 2,
            },
            &agent,
        )
        .await
        .unwrap();
        let booking = |arrival: NaiveDate| Booking {
            guest_id: guest.id,
            room_type: "KING".into(),
            arrival,
            departure: arrival + chrono::Days::new(1),
            adults: 1,
            children: 0,
            tentative: false,
            waitlist: false,
            overbook: true,
            override_occupancy: false,
        };
        let r = &actors.reservations;
        let missed = r.book(p.id, booking(behind), &agent).await.unwrap();
        let next_day = r
            .book(p.id, booking(behind + chrono::Days::new(1)), &agent)
            .await
            .unwrap();

        let business_date = || async { store.property(p.id).await.unwrap().unwrap() };
        let status = |id| {
            let store = Arc::clone(&store);
            async move { store.reservation(id).await.unwrap().unwrap().status }
        };
        r.run_due_audits().await;
        assert_eq!(
            business_date().await.business_date,
            Some(behind + chrono::Days::new(1))
        );
        assert_eq!(status(missed.id).await, ReservationStatus::NoShow);
        assert_eq!(status(next_day.id).await, ReservationStatus::Confirmed);

        r.run_due_audits().await;
        assert_eq!(status(next_day.id).await, ReservationStatus::NoShow);
        // Yesterday closes at 03:00 hotel time today; today's never before 03:00 tomorrow.
        let yesterday = local - chrono::Days::new(1);
        let due = p.audit_due(yesterday);
        let before = chrono::Utc::now();
        r.run_due_audits().await;
        r.run_due_audits().await;
        let after = chrono::Utc::now();
        let got = business_date().await.business_date;
        if before >= due {
            assert_eq!(got, Some(local), "caught up, and no further");
        } else if after < due {
            assert_eq!(got, Some(yesterday), "yesterday is not closed before 03:00");
        }
        actors.shutdown().await;
    }
}

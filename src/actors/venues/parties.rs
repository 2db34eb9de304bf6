//! Parties: bookings (a single table first, then a combination, within the venue's pacing),
//! walk-ins, the waitlist with quoted waits, and what concerns only the party (arriving,
//! paying, canceling, leaving the waitlist), committed on the party's own stream.

use super::*;

impl Venues {
    /// Checks a link to a hotel stay: a live reservation of the venue's property.
    async fn check_stay(
        &self,
        venue: &Venue,
        reservation: Option<ReservationId>,
    ) -> Result<(), CommandError> {
        let Some(rid) = reservation else {
            return Ok(());
        };
        let ok = self.store().reservation(rid).await?.is_some_and(|r| {
            r.property_id == venue.property_id
                && matches!(
                    r.status,
                    ReservationStatus::Confirmed | ReservationStatus::InHouse
                )
        });
        if ok {
            Ok(())
        } else {
            Err(CommandError::Invalid(
                "the reservation must be a confirmed or in-house stay of this hotel".into(),
            ))
        }
    }

    /// Books a table for a party: the smallest single table free for the party's turn time,
    /// else the smallest free combination, within the venue's pacing.
    pub async fn book(
        &self,
        id: VenueId,
        req: BookingRequest,
        agent: &Agent,
    ) -> Result<Party, CommandError> {
        let venue = self.venue(id).await?;
        validate_party(req.party_size, &req.name, req.phone.as_deref())?;
        let now = persistence::now();
        if req.at < now - chrono::Duration::minutes(5) {
            return Err(CommandError::Invalid(
                "a booking cannot be in the past".into(),
            ));
        }
        self.check_stay(&venue, req.reservation_id).await?;
        let ends = req.at + venue.turn(req.party_size);
        let tables = self.store().venue_tables(id).await?;
        let mut schedule = self.store().schedule(id, req.at, ends).await?;
        let mut queue = spread(candidates(&venue, &tables, req.party_size), &tables);
        queue.reverse();
        while let Some(c) = queue.pop() {
            if !free(&schedule, &c, req.at, ends, None) {
                continue;
            }
            let (party, event) = Party::create(
                PartyId::new(),
                &venue,
                NewParty {
                    kind: PartyKind::Booking,
                    name: req.name.clone(),
                    phone: req.phone.clone(),
                    size: req.party_size,
                    tables: c.clone(),
                    starts_at: req.at,
                    ends_at: ends,
                    quoted_minutes: None,
                    reservation_id: req.reservation_id,
                },
                now,
            )?;
            let request = TableRequest::Book {
                party: Box::new(party),
                event: Box::new(event),
                pacing: venue.pacing,
            };
            match self.table_action(c[0], request, None, agent.clone()).await {
                Ok(o) => return o.party.ok_or(CommandError::PartyNotFound),
                // Someone (on this node or another) took it first: look again at what is
                // free now, so a rush of bookings does not try every taken table in turn.
                Err(CommandError::Conflict {
                    code: "table_taken",
                    ..
                })
                | Err(CommandError::VenueRefused(VenueRefusal::TableBlocked)) => {
                    schedule = self.store().schedule(id, req.at, ends).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(no_table())
    }

    /// Seats a walk-in now: at the host's table, or the best table free now for the turn.
    pub async fn walk_in(
        &self,
        id: VenueId,
        req: WalkInRequest,
        agent: &Agent,
    ) -> Result<(Party, Table), CommandError> {
        let venue = self.venue(id).await?;
        let name = req.name.clone().unwrap_or_else(|| "Walk-in".into());
        validate_party(req.party_size, &name, None)?;
        self.check_stay(&venue, req.reservation_id).await?;
        let now = persistence::now();
        let ends = now + venue.turn(req.party_size);
        let tables = self.store().venue_tables(id).await?;
        let choices: Vec<TableId> = match req.table {
            Some(t) => {
                let table = tables
                    .iter()
                    .find(|x| x.id == t)
                    .ok_or(CommandError::TableNotFound)?;
                if !table.fits(req.party_size) {
                    return Err(VenueRefusal::DoesNotFit {
                        size: req.party_size,
                        min: table.min_seats,
                        max: table.max_seats,
                    }
                    .into());
                }
                vec![t]
            }
            None => candidates(&venue, &tables, req.party_size)
                .into_iter()
                .filter(|c| c.len() == 1)
                .map(|c| c[0])
                .filter(|t| {
                    tables
                        .iter()
                        .any(|x| x.id == *t && x.state(now) == TableState::Available)
                })
                .collect(),
        };
        let explicit = req.table.is_some();
        for t in choices {
            let (party, event) = Party::create(
                PartyId::new(),
                &venue,
                NewParty {
                    kind: PartyKind::WalkIn,
                    name: name.clone(),
                    phone: None,
                    size: req.party_size,
                    tables: vec![t],
                    starts_at: now,
                    ends_at: ends,
                    quoted_minutes: None,
                    reservation_id: req.reservation_id,
                },
                now,
            )?;
            let request = TableRequest::WalkIn {
                party: Box::new(party),
                event: Box::new(event),
            };
            match self.table_action(t, request, None, agent.clone()).await {
                Ok(o) => {
                    let party = o.party.ok_or(CommandError::PartyNotFound)?;
                    return Ok((party, o.table));
                }
                Err(e @ (CommandError::Conflict { .. } | CommandError::VenueRefused(_)))
                    if explicit =>
                {
                    return Err(e);
                }
                Err(CommandError::Conflict { .. } | CommandError::VenueRefused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Err(no_table())
    }

    /// Puts a party on the waitlist, quoted the wait until the first table that fits is free
    /// for its turn (rounded up to 5 minutes).
    pub async fn wait(
        &self,
        id: VenueId,
        req: WaitlistRequest,
        agent: &Agent,
    ) -> Result<Party, CommandError> {
        let venue = self.venue(id).await?;
        validate_party(req.party_size, &req.name, req.phone.as_deref())?;
        self.check_stay(&venue, req.reservation_id).await?;
        let now = persistence::now();
        let turn = venue.turn(req.party_size);
        let tables = self.store().venue_tables(id).await?;
        let schedule = self
            .store()
            .schedule(id, now, now + chrono::Duration::hours(24))
            .await?;
        let free_at = candidates(&venue, &tables, req.party_size)
            .iter()
            .map(|c| earliest_free(&schedule, c, now, turn))
            .min()
            .ok_or_else(|| {
                CommandError::Invalid(format!(
                    "no table or combination of this venue seats {}",
                    req.party_size
                ))
            })?;
        let (party, event) = Party::create(
            PartyId::new(),
            &venue,
            NewParty {
                kind: PartyKind::Waitlist,
                name: req.name,
                phone: req.phone,
                size: req.party_size,
                tables: Vec::new(),
                starts_at: now,
                ends_at: now + turn,
                quoted_minutes: Some(quote_minutes(now, free_at)),
                reservation_id: req.reservation_id,
            },
            now,
        )?;
        let row = row(&party, &event, agent, now)?;
        self.store()
            .commit(vec![row], vec![Projection::UpsertParty(party.clone())])
            .await?;
        self.shared()
            .bus
            .publish(party_publication(&party, &[(1, event)], agent, now));
        Ok(party)
    }

    /// What concerns only the party: arrive, pay, cancel, no-show, leave the waitlist.
    pub async fn party_action(
        &self,
        id: PartyId,
        command: PartyCommand,
        expected_version: Option<u64>,
        agent: &Agent,
    ) -> Result<Party, CommandError> {
        let store = self.store();
        let handle = self
            .parties
            .get(&id, async {
                store.party(id).await.map_err(CommandError::from)
            })
            .await?
            .ok_or(CommandError::PartyNotFound)?;
        handle
            .execute(command, expected_version, agent.clone())
            .await
    }
}

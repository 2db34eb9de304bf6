//! The demo hotel seeded into an empty store, so `cargo run` shows a live board at once.
//!
//! It has a well-known id, so the README's examples can be pasted as they are. Demo only: a
//! real deployment creates its properties through the API.

use anyhow::Context;
use chrono::Duration;
use uuid::Uuid;

use crate::{
    actors::{Actors, Booking, CreateTask, Request, catalog::NewGuest, property},
    auth::{AuthService, NewUser},
    domain::{
        Agent, BlockKind, Cleanliness, HkOccupancy, NewBlock, NewRoom, Property, PropertyId, Role,
        RoomCommand, RoomNumber, ServiceFlag, StatusChange,
    },
    persistence::{self, Store},
};

/// The password of every demo account. Demo only: never seed these into a real deployment.
pub const DEMO_PASSWORD: &str = "bellhop-demo";

/// `<role>@demo.bellhop`, e.g. `front_desk@demo.bellhop`.
#[must_use]
pub fn demo_email(role: Role) -> String {
    format!("{}@demo.bellhop", role.as_str())
}

/// The demo property's id.
pub const DEMO_PROPERTY_ID: PropertyId =
    PropertyId(Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001));

/// Seeds the demo hotel when the store has no property at all. Returns whether it did.
pub async fn seed_if_empty(
    store: &Store,
    actors: &Actors,
    auth: &AuthService,
) -> anyhow::Result<bool> {
    let (rooms, venues) = (&actors.rooms, &actors.venues);
    if !store.properties().await?.is_empty() {
        return Ok(false);
    }
    let agent = Agent::system("demo");
    let hotel = property::create_with_id(
        store,
        Property {
            id: DEMO_PROPERTY_ID,
            name: "Bellhop Grand Hotel (demo)".into(),
            timezone: "Europe/Berlin".into(),
            created_at: persistence::now(),
            business_date: None,
            require_inspected: false,
            stayover_every_days: 1,
        },
        &agent,
    )
    .await?;
    for (code, name, max_occupancy) in [
        ("QUEEN", "Queen room", 2),
        ("KING", "King room", 2),
        ("TWIN", "Twin room", 2),
        ("SUITE", "Suite", 4),
    ] {
        crate::actors::catalog::put_room_type(
            store,
            crate::domain::RoomType {
                property_id: hotel.id,
                code: code.into(),
                name: name.into(),
                max_occupancy,
            },
            &agent,
        )
        .await
        .context("defining demo room types")?;
    }
    rooms
        .create_rooms(hotel.id, demo_rooms(), &agent)
        .await
        .context("creating demo rooms")?;

    let now = persistence::now();
    let n = |s: &str| RoomNumber::parse(s).expect("demo room numbers are valid");
    let changes = [
        (
            "214",
            RoomCommand::PlaceBlock(NewBlock {
                kind: BlockKind::OutOfOrder,
                from: now,
                to: now + Duration::days(3),
                reason: "Bathroom leak, plumber booked".into(),
                return_status: Some(Cleanliness::Dirty),
            }),
        ),
        (
            "509",
            RoomCommand::PlaceBlock(NewBlock {
                kind: BlockKind::OutOfService,
                from: now,
                to: now + Duration::days(1),
                reason: "TV being replaced".into(),
                return_status: Some(Cleanliness::Clean),
            }),
        ),
        (
            "305",
            RoomCommand::ChangeStatus(StatusChange {
                hk_occupancy: Some(HkOccupancy::Occupied),
                service: Some(ServiceFlag::Dnd),
                ..StatusChange::default()
            }),
        ),
        (
            "306",
            RoomCommand::ChangeStatus(StatusChange {
                hk_occupancy: Some(HkOccupancy::Occupied),
                service: Some(ServiceFlag::MakeUpRoom),
                ..StatusChange::default()
            }),
        ),
        (
            "412",
            RoomCommand::ChangeStatus(StatusChange {
                rush: Some(true),
                ..StatusChange::default()
            }),
        ),
    ];
    for (number, command) in changes {
        rooms
            .room(hotel.id, &n(number))
            .await?
            .execute(command, None, agent.clone())
            .await
            .with_context(|| format!("demo change to room {number}"))?;
    }
    seed_restaurant(venues, hotel.id, &agent)
        .await
        .context("creating the demo restaurant")?;
    for role in Role::ALL {
        let property = (role != Role::Admin).then_some(hotel.id);
        auth.create_user(
            &agent,
            property,
            NewUser {
                email: demo_email(role),
                name: format!("Demo {}", role.as_str().replace('_', " ")),
                role,
                password: DEMO_PASSWORD.into(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo {} user: {e}", role.as_str()))?;
    }
    seed_day(store, actors, hotel.id, &agent)
        .await
        .context("seeding the demo hotel's day")?;
    tracing::info!(property = %hotel.id, "seeded the demo hotel: 120 rooms on 6 floors");
    tracing::info!(
        "demo logins (demo only): {} … with password {DEMO_PASSWORD:?}",
        Role::ALL.map(demo_email).join(", ")
    );
    Ok(true)
}

/// The front desk's day, so every screen has something on it: guests in house (checked in
/// today), arrivals with and without a room, two guests who wrote to the hotel, cleanings for the
/// supervisor to hand out (two already on the demo housekeeper's phone), and a table booked for
/// a hotel guest. Each booking's confirmation email lands in `./emails/` with the guest's link.
async fn seed_day(
    store: &Store,
    actors: &Actors,
    pid: PropertyId,
    agent: &Agent,
) -> anyhow::Result<()> {
    use crate::domain::{
        ConversationId,
        chat::{Author, MessageKind},
        task::TaskKind,
    };
    let today = store
        .property(pid)
        .await?
        .context("the demo property")?
        .business_date(persistence::now());
    // Rooms ready for a guest, by type, leaving alone the ones the seed gave a story above.
    let special = ["214", "509", "305", "306", "412"];
    let mut ready: Vec<NewRoom> = demo_rooms()
        .into_iter()
        .filter(|r| {
            matches!(
                r.cleanliness,
                Some(Cleanliness::Clean | Cleanliness::Inspected)
            ) && !special.contains(&r.number.as_str())
        })
        .collect();
    let mut take = |room_type: &str| {
        let i = ready
            .iter()
            .position(|r| r.room_type == room_type)
            .expect("the demo hotel has a ready room of every type");
        ready.remove(i).number
    };
    // (guest, room type, nights, what the front desk has done so far, what they wrote)
    let stays = [
        (
            "Grace Hopper",
            "KING",
            2,
            "in_house",
            Some("Could we have two extra pillows, please?"),
        ),
        ("Alan Turing", "QUEEN", 3, "in_house", None),
        ("Katherine Johnson", "SUITE", 2, "in_house", None),
        (
            "Ada Lovelace",
            "KING",
            2,
            "assigned",
            Some("We arrive around 22:00. Is a late check-in fine?"),
        ),
        ("Tim Berners-Lee", "TWIN", 1, "assigned", None),
        ("Margaret Hamilton", "QUEEN", 4, "booked", None),
        ("Edsger Dijkstra", "KING", 1, "booked", None),
    ];
    let mut first_stay = None;
    for (name, room_type, nights, progress, wrote) in stays {
        let email = format!(
            "{}@example.org",
            name.split(' ').next().unwrap_or(name).to_lowercase()
        );
        let guest = crate::actors::catalog::create_guest(
            store,
            pid,
            NewGuest {
                name: name.into(),
                email: Some(email),
                phone: None,
                preferences: Vec::new(),
            },
            agent,
        )
        .await?;
        let r = actors
            .reservations
            .book(
                pid,
                Booking {
                    guest_id: guest.id,
                    room_type: room_type.into(),
                    arrival: today,
                    departure: today + chrono::Days::new(nights),
                    adults: 2,
                    children: 0,
                    tentative: false,
                    waitlist: false,
                    overbook: false,
                    override_occupancy: false,
                },
                agent,
            )
            .await?;
        first_stay.get_or_insert(r.id);
        if progress != "booked" {
            let room = take(room_type);
            actors
                .reservations
                .execute(r.id, Request::Assign { room }, None, agent.clone())
                .await?;
        }
        if progress == "in_house" {
            actors
                .reservations
                .execute(r.id, Request::CheckIn, None, agent.clone())
                .await?;
        }
        if let Some(text) = wrote {
            actors
                .conversations
                .send(
                    ConversationId(r.id.0),
                    Author::Guest,
                    MessageKind::Text,
                    text.into(),
                    None,
                    Agent::guest(r.id.0),
                )
                .await?;
        }
    }
    // Rooms left dirty by last night's departures: cleanings to hand out.
    let housekeeper = store
        .users(pid)
        .await?
        .into_iter()
        .find(|u| u.role == Role::Housekeeper)
        .map(|u| u.id);
    let dirty: Vec<RoomNumber> = demo_rooms()
        .into_iter()
        .filter(|r| {
            r.cleanliness == Some(Cleanliness::Dirty) && !special.contains(&r.number.as_str())
        })
        .map(|r| r.number)
        .take(6)
        .collect();
    for (i, number) in dirty.into_iter().enumerate() {
        actors
            .tasks
            .create(
                pid,
                CreateTask {
                    kind: TaskKind::Departure,
                    room: Some(number),
                    priority: crate::domain::task::Priority::default(),
                    rush: i == 2,
                    note: None,
                    assignee: housekeeper.filter(|_| i < 2),
                    due_at: None,
                },
                agent,
            )
            .await?;
    }
    // Dinner for the first guest in house, and a walk-in already at a table.
    if let Some(venue) = store.venues(pid).await?.into_iter().next() {
        let at = persistence::now() + Duration::hours(2);
        actors
            .venues
            .book(
                venue.id,
                crate::actors::BookingRequest {
                    party_size: 2,
                    name: "Grace Hopper".into(),
                    phone: None,
                    at,
                    reservation_id: first_stay,
                },
                agent,
            )
            .await?;
        actors
            .venues
            .walk_in(
                venue.id,
                crate::actors::WalkInRequest {
                    party_size: 4,
                    name: Some("Babbage".into()),
                    table: None,
                    reservation_id: None,
                },
                agent,
            )
            .await?;
    }
    Ok(())
}

/// 6 floors × 20 rooms: queens, kings and twins, suites on the top floor, in a spread of
/// housekeeping states.
fn demo_rooms() -> Vec<NewRoom> {
    let mut rooms = Vec::with_capacity(120);
    for floor in 1..=6_i16 {
        for i in 1..=20_i16 {
            let room_type = match (floor, i) {
                (6, 1..=6) => "SUITE",
                (_, 1..=8) => "QUEEN",
                (_, 9..=16) => "KING",
                _ => "TWIN",
            };
            let cleanliness = match (floor * 31 + i * 7) % 10 {
                0..=3 => Cleanliness::Inspected,
                4 | 5 => Cleanliness::Clean,
                9 => Cleanliness::Pickup,
                _ => Cleanliness::Dirty,
            };
            let number = format!("{}{:02}", floor, i);
            rooms.push(NewRoom {
                number: RoomNumber::parse(&number).expect("demo room numbers are valid"),
                floor,
                room_type: room_type.into(),
                // 412 gets a rush in the seed, which needs a room that is not ready yet.
                cleanliness: Some(if number == "412" {
                    Cleanliness::Dirty
                } else {
                    cleanliness
                }),
            });
        }
    }
    rooms
}

/// The hotel's brasserie: a terrace and a dining room, two-tops, four-tops, a round table for
/// six, two four-tops that push together for eight, and a pacing of 20 covers a quarter hour.
async fn seed_restaurant(
    venues: &crate::actors::Venues,
    property: PropertyId,
    agent: &Agent,
) -> anyhow::Result<()> {
    use crate::domain::venue::{Combination, NewTable, Shape, VenueKind};
    let venue = venues
        .create_venue(
            property,
            crate::actors::NewVenue {
                name: "The Brasserie".into(),
                kind: VenueKind::Restaurant,
                sections: vec!["Dining room".into(), "Terrace".into()],
                turn_times: None,
                pacing: Some(20),
                hold_minutes: None,
            },
            agent,
        )
        .await?;
    let table = |name: &str, section: &str, max: u16, x: f32, y: f32, shape| NewTable {
        name: name.into(),
        section: Some(section.into()),
        min_seats: if max > 2 { 2 } else { 1 },
        max_seats: max,
        x,
        y,
        shape,
    };
    let tables = venues
        .add_tables(
            venue.id,
            vec![
                table("1", "Dining room", 2, 1.0, 1.0, Shape::Square),
                table("2", "Dining room", 2, 3.0, 1.0, Shape::Square),
                table("3", "Dining room", 4, 1.0, 3.0, Shape::Rectangle),
                table("4", "Dining room", 4, 3.0, 3.0, Shape::Rectangle),
                table("5", "Dining room", 6, 2.0, 5.0, Shape::Round),
                table("T1", "Terrace", 2, 6.0, 1.0, Shape::Round),
                table("T2", "Terrace", 4, 6.0, 3.0, Shape::Square),
            ],
            agent,
        )
        .await?;
    venues
        .update_venue(
            venue.id,
            crate::actors::VenueSettings {
                combinations: Some(vec![Combination {
                    tables: vec![tables[2].id, tables[3].id],
                    min_seats: 5,
                    max_seats: 8,
                }]),
                ..crate::actors::VenueSettings::default()
            },
            None,
            agent,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_hotel_has_120_rooms_on_6_floors_with_several_types() {
        let rooms = demo_rooms();
        assert_eq!(rooms.len(), 120);
        let floors: std::collections::BTreeSet<_> = rooms.iter().map(|r| r.floor).collect();
        assert_eq!(floors.len(), 6);
        let types: std::collections::BTreeSet<_> =
            rooms.iter().map(|r| r.room_type.as_str()).collect();
        assert_eq!(types.len(), 4);
        assert!(rooms.iter().all(|r| r.validate().is_ok()));
    }
}

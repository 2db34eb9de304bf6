//! What a guest is told by email about their reservation (issue: reservations, point 7).
//!
//! Pure: the text is composed from the reservation as committed, so the email says exactly
//! what the event log says. The guest's personal link is left as `{guest_link}`: the outbox
//! worker fills in a fresh reservation-scoped token when it sends, so no bearer token is ever
//! stored in the database.

use super::{
    Reservation,
    reservation::{ReservationEvent, ReservationStatus},
};

/// The placeholder the outbox worker replaces with the guest's link.
pub const GUEST_LINK: &str = "{guest_link}";

/// The emails a reservation sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Confirmed,
    Modified,
    Canceled,
    /// A waitlisted reservation got its room type.
    Promoted,
}

impl Notice {
    /// The notice an event causes, if any (judged on the reservation right after it).
    #[must_use]
    pub fn of(event: &ReservationEvent, after: &Reservation) -> Option<Self> {
        match event {
            ReservationEvent::ReservationCreated { .. }
                if after.status == ReservationStatus::Confirmed =>
            {
                Some(Self::Confirmed)
            }
            ReservationEvent::Confirmed => Some(Self::Confirmed),
            ReservationEvent::Amended { .. } => Some(Self::Modified),
            ReservationEvent::Canceled { .. } => Some(Self::Canceled),
            ReservationEvent::Promoted => Some(Self::Promoted),
            _ => None,
        }
    }

    /// The outbox `kind`.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Self::Confirmed => "reservation_confirmed",
            Self::Modified => "reservation_modified",
            Self::Canceled => "reservation_canceled",
            Self::Promoted => "waitlist_promoted",
        }
    }

    /// Subject and plain-text body.
    #[must_use]
    pub fn compose(self, hotel: &str, guest: &str, r: &Reservation) -> (String, String) {
        let nights = r.stay.nights();
        let stay = format!(
            "{} to {} ({nights} night{}), {} room, {} adult{}{}",
            r.stay.arrival,
            r.stay.departure,
            if nights == 1 { "" } else { "s" },
            r.room_type,
            r.party.adults,
            if r.party.adults == 1 { "" } else { "s" },
            match r.party.children {
                0 => String::new(),
                1 => ", 1 child".into(),
                n => format!(", {n} children"),
            }
        );
        let reference = r.id;
        let (subject, lead) = match self {
            Self::Confirmed => (
                format!("Your stay at {hotel} is confirmed"),
                "we are glad to confirm your reservation.",
            ),
            Self::Modified => (
                format!("Your reservation at {hotel} was changed"),
                "your reservation was changed. This is how it stands now.",
            ),
            Self::Canceled => (
                format!("Your reservation at {hotel} is canceled"),
                "your reservation has been canceled. We hope to welcome you another time.",
            ),
            Self::Promoted => (
                format!("Good news: a room is free for you at {hotel}"),
                "a room became free, and your waitlisted reservation is now confirmed.",
            ),
        };
        let link = if self == Self::Canceled {
            String::new()
        } else {
            format!("\nYour stay online (details and chat with the front desk):\n{GUEST_LINK}\n")
        };
        let body = format!(
            "Dear {guest},\n\n{lead}\n\n  {stay}\n  Reference: {reference}\n{link}\nKind regards,\n{hotel}\n"
        );
        (subject, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        PropertyId, ReservationId,
        reservation::{GuestId, NewReservation, Party, Stay},
    };

    fn booked(status: ReservationStatus) -> (Reservation, ReservationEvent) {
        let d = |s: &str| s.parse().unwrap();
        Reservation::create(
            ReservationId::new(),
            PropertyId::new(),
            NewReservation {
                guest_id: GuestId::new(),
                room_type: "KING".into(),
                stay: Stay::new(d("2026-12-01"), d("2026-12-03")).unwrap(),
                party: Party {
                    adults: 2,
                    children: 1,
                },
                status,
                overbooked: false,
                occupancy_overridden: false,
            },
            d("2026-11-20"),
            chrono::Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn bookings_tell_the_guest_what_was_booked_and_how_to_reach_the_stay() {
        let (r, created) = booked(ReservationStatus::Confirmed);
        let notice = Notice::of(&created, &r).unwrap();
        assert_eq!(notice, Notice::Confirmed);
        let (subject, body) = notice.compose("Grand", "Ada", &r);
        assert_eq!(subject, "Your stay at Grand is confirmed");
        assert!(body.starts_with("Dear Ada,"));
        assert!(body.contains("2026-12-01 to 2026-12-03 (2 nights), KING room, 2 adults, 1 child"));
        assert!(body.contains(&r.id.to_string()));
        assert!(body.contains(GUEST_LINK));
        // A cancellation carries no link; waitlist and tentative bookings send nothing yet.
        let (_, body) = Notice::Canceled.compose("Grand", "Ada", &r);
        assert!(!body.contains(GUEST_LINK));
        let (w, created) = booked(ReservationStatus::Waitlisted);
        assert_eq!(Notice::of(&created, &w), None);
        assert_eq!(
            Notice::of(&ReservationEvent::Promoted, &w),
            Some(Notice::Promoted)
        );
    }
}

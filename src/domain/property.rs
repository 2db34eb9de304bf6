//! A property (one hotel) of the deployment.

use chrono::{DateTime, Days, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ids::PropertyId;

/// A hotel. Rooms, reservations and staff belong to exactly one property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    pub id: PropertyId,
    pub name: String,
    /// IANA time zone name; the business date (issue: reservations) is computed in it.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    /// The day the front desk is working, as the night audit last rolled it; `None` before
    /// the first audit (then it is the hotel's local date). See [`Property::business_date`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_date: Option<NaiveDate>,
    /// Check-in only into inspected rooms (otherwise clean is enough).
    #[serde(default)]
    pub require_inspected: bool,
    /// An in-house room gets a stayover clean every this many days of the stay (1: daily;
    /// 0: only on request).
    #[serde(default = "daily")]
    pub stayover_every_days: u8,
}

fn daily() -> u8 {
    1
}

/// The hotel's local hour at which the night audit closes the previous business date.
pub const AUDIT_HOUR: u32 = 3;

impl Property {
    /// Validates the name and time zone given by a caller.
    pub fn validate(name: &str, timezone: &str) -> Result<(), String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err("a property name has 1 to 200 characters".into());
        }
        if timezone.parse::<Tz>().is_err() {
            return Err("timezone must be an IANA name such as Europe/Berlin or UTC".into());
        }
        Ok(())
    }

    /// The property's time zone (validated at creation; UTC if a stored name is unknown).
    #[must_use]
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// The hotel's calendar date at `now`: what "today" means at its front desk.
    #[must_use]
    pub fn local_date(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz()).date_naive()
    }

    /// The business date at `now`: the audited date, or the local date before any audit.
    /// The night audit, not the clock, moves it on: until the audit has run, the front desk
    /// is still working the previous day (late arrivals, no-shows not yet marked).
    #[must_use]
    pub fn business_date(&self, now: DateTime<Utc>) -> NaiveDate {
        self.business_date.unwrap_or_else(|| self.local_date(now))
    }

    /// The front desk's day as reservation rules judge it: the business date and the
    /// check-in policy.
    #[must_use]
    pub fn day(&self, now: DateTime<Utc>) -> super::reservation::Context {
        super::reservation::Context {
            business_date: self.business_date(now),
            require_inspected: self.require_inspected,
        }
    }

    /// When the audit closing `date` is due: [`AUDIT_HOUR`] local time on the next day.
    #[must_use]
    pub fn audit_due(&self, date: NaiveDate) -> DateTime<Utc> {
        let tz = self.tz();
        let local = (date + Days::new(1))
            .and_hms_opt(AUDIT_HOUR, 0, 0)
            .unwrap_or_default();
        tz.from_local_datetime(&local)
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
    }

    /// Whether a stay that arrived on `arrival` gets a stayover clean on `date` (a day it is
    /// in house and not leaving), by the property's policy.
    #[must_use]
    pub fn stayover_due(&self, arrival: NaiveDate, departure: NaiveDate, date: NaiveDate) -> bool {
        let every = i64::from(self.stayover_every_days);
        let day = (date - arrival).num_days();
        every > 0 && day > 0 && date < departure && day % every == 0
    }

    /// The instants the night of `date` spans: local noon to the next day's local noon, the
    /// span a guest staying that night may be in the room (after the usual 11:00 check-out,
    /// before the next 15:00 check-in). A block that ends at 10:00 therefore takes the night
    /// before from sale, not the night of that day. Across a clock change a night lasts 23 or
    /// 25 hours; noon itself always exists.
    #[must_use]
    pub fn night(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let tz = self.tz();
        let noon = |d: NaiveDate| {
            let local = d.and_hms_opt(12, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&local)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
        };
        (noon(date), noon(date + Days::new(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_validation() {
        assert!(Property::validate("Grand", "Europe/Berlin").is_ok());
        assert!(Property::validate("Grand", "UTC").is_ok());
        assert!(Property::validate("", "UTC").is_err());
        assert!(Property::validate("Grand", "Berlin").is_err());
        assert!(Property::validate("Grand", "Europe/Ber;lin").is_err());
        assert!(Property::validate("Grand", "Europe/Berlinn").is_err());
        assert!(Property::validate("Grand", "America/Argentina/Buenos_Aires").is_ok());
    }

    fn hotel(tz: &str) -> Property {
        Property {
            id: PropertyId::new(),
            name: "Grand".into(),
            timezone: tz.into(),
            created_at: Utc::now(),
            business_date: None,
            require_inspected: false,
            stayover_every_days: 1,
        }
    }

    #[test]
    fn the_business_date_is_the_audited_one_and_the_audit_is_due_at_3am_local() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let mut berlin = hotel("Europe/Berlin");
        let now = at("2026-12-02T01:00:00Z");
        assert_eq!(berlin.business_date(now), d("2026-12-02"));
        // Audited up to the 1st: at 02:00 local on the 2nd the desk still works the 1st.
        berlin.business_date = Some(d("2026-12-01"));
        assert_eq!(berlin.business_date(now), d("2026-12-01"));
        assert_eq!(
            berlin.audit_due(d("2026-12-01")),
            at("2026-12-02T02:00:00Z")
        );
        // In summer Berlin is UTC+2.
        assert_eq!(
            berlin.audit_due(d("2026-07-01")),
            at("2026-07-02T01:00:00Z")
        );
    }

    #[test]
    fn the_local_date_is_the_hotels_not_the_servers() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        // 23:30 UTC is already tomorrow in Berlin and still today in New York.
        let now = at("2026-12-01T23:30:00Z");
        assert_eq!(hotel("Europe/Berlin").local_date(now), d("2026-12-02"));
        assert_eq!(hotel("America/New_York").local_date(now), d("2026-12-01"));
        assert_eq!(hotel("UTC").local_date(now), d("2026-12-01"));
    }

    #[test]
    fn nights_run_from_local_noon_and_follow_clock_changes() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let berlin = hotel("Europe/Berlin");
        assert_eq!(
            berlin.night(d("2026-12-01")),
            (at("2026-12-01T11:00:00Z"), at("2026-12-02T11:00:00Z"))
        );
        // Summer time starts in the early hours of 2026-03-29: the night before is 23 hours.
        let (start, end) = berlin.night(d("2026-03-28"));
        assert_eq!((end - start).num_hours(), 23);
        let (start, end) = berlin.night(d("2026-10-24"));
        assert_eq!((end - start).num_hours(), 25);
    }

    #[test]
    fn stayovers_follow_the_policy_and_skip_arrival_and_departure_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let mut h = hotel("UTC");
        let (arrive, leave) = (d("2026-12-01"), d("2026-12-05"));
        let due: Vec<_> = arrive
            .iter_days()
            .take(5)
            .filter(|day| h.stayover_due(arrive, leave, *day))
            .collect();
        assert_eq!(due, [d("2026-12-02"), d("2026-12-03"), d("2026-12-04")]);
        // Every other day: the second and fourth days of the stay.
        h.stayover_every_days = 2;
        assert!(!h.stayover_due(arrive, leave, d("2026-12-02")));
        assert!(h.stayover_due(arrive, leave, d("2026-12-03")));
        assert!(!h.stayover_due(arrive, leave, d("2026-12-04")));
        h.stayover_every_days = 0;
        assert!(!h.stayover_due(arrive, leave, d("2026-12-03")));
    }
}

//! A property (one hotel) of the deployment.

use chrono::{DateTime, Utc};
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
}

impl Property {
    /// Validates the name and time zone given by a caller.
    pub fn validate(name: &str, timezone: &str) -> Result<(), String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err("a property name has 1 to 200 characters".into());
        }
        // A full tz database is not needed to reject garbage: IANA names are Area/Location
        // (or UTC) made of a small alphabet.
        let tz_ok = timezone == "UTC"
            || (timezone.contains('/')
                && timezone.len() <= 64
                && timezone
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c)));
        if !tz_ok {
            return Err("timezone must be an IANA name such as Europe/Berlin or UTC".into());
        }
        Ok(())
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
    }
}

//! Guest profiles and the room types a property sells (DESIGN §6, reference/domain.md §3).
//!
//! A guest profile outlives any one stay: reservations point to it, so the front desk sees a
//! returning guest's preferences and history. A room type is what is sold; its inventory is the
//! number of rooms of that type, less the ones blocked out of order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ids::{GuestId, PropertyId},
    reservation::validate_room_type,
};

/// A guest of one property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    pub id: GuestId,
    pub property_id: PropertyId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Free-form preferences ("high floor", "feather-free pillows"), as staff note them.
    pub preferences: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Guest {
    /// Checks what staff typed: a name, and an email that at least looks like one.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err("a guest needs a name of 1 to 200 characters".into());
        }
        if let Some(email) = &self.email {
            let ok = email.len() <= 254
                && email
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
                && !email.chars().any(char::is_whitespace);
            if !ok {
                return Err(format!("{email:?} is not an email address"));
            }
        }
        if let Some(phone) = &self.phone
            && (phone.is_empty()
                || phone.len() > 32
                || !phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c)))
        {
            return Err("a phone number has up to 32 digits, spaces and + - ( ) .".into());
        }
        if self.preferences.len() > 50 || self.preferences.iter().any(|p| p.chars().count() > 200) {
            return Err("at most 50 preferences of up to 200 characters".into());
        }
        Ok(())
    }
}

/// A kind of room a property sells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomType {
    pub property_id: PropertyId,
    /// The code rooms and reservations refer to ("KING").
    pub code: String,
    pub name: String,
    /// Guests one room of this type sleeps.
    pub max_occupancy: u8,
}

impl RoomType {
    pub fn validate(&self) -> Result<(), String> {
        validate_room_type(&self.code).map_err(|e| e.to_string())?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err("a room type needs a name of 1 to 100 characters".into());
        }
        if self.max_occupancy == 0 || self.max_occupancy > 20 {
            return Err("a room type sleeps 1 to 20 guests".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest() -> Guest {
        Guest {
            id: GuestId::new(),
            property_id: PropertyId::new(),
            name: "Ada Lovelace".into(),
            email: Some("ada@example.org".into()),
            phone: Some("+44 20 7946 0000".into()),
            preferences: vec!["high floor".into()],
            created_at: Utc::now(),
        }
    }

    #[test]
    fn guests_are_validated() {
        assert!(guest().validate().is_ok());
        for bad in [
            Guest {
                name: "  ".into(),
                ..guest()
            },
            Guest {
                email: Some("ada at example".into()),
                ..guest()
            },
            Guest {
                email: Some("@example.org".into()),
                ..guest()
            },
            Guest {
                phone: Some("call me".into()),
                ..guest()
            },
            Guest {
                preferences: vec!["x".repeat(201)],
                ..guest()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(
            Guest {
                email: None,
                phone: None,
                ..guest()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn room_types_are_validated() {
        let t = RoomType {
            property_id: PropertyId::new(),
            code: "KING".into(),
            name: "King room".into(),
            max_occupancy: 2,
        };
        assert!(t.validate().is_ok());
        assert!(
            RoomType {
                code: "king size".into(),
                ..t.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            RoomType {
                max_occupancy: 0,
                ..t.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            RoomType {
                name: String::new(),
                ..t
            }
            .validate()
            .is_err()
        );
    }
}

//! JWT access tokens (HS256) for staff and guests.
//!
//! Access tokens are short-lived on purpose: they cannot be revoked one by one, so a logout
//! (which revokes the refresh family) takes effect within one access lifetime at most.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Principal, PropertyId, Role};

/// What an access token says.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id (staff) or the reservation id (guest).
    sub: Uuid,
    /// `staff` or `guest`.
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<Uuid>,
    iat: i64,
    exp: i64,
    jti: Uuid,
}

/// Why a token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenIssuer {
    #[must_use]
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl,
        }
    }

    /// Access lifetime in seconds (the `expires_in` of a login answer).
    #[must_use]
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// A staff access token.
    pub fn staff(
        &self,
        user: Uuid,
        role: Role,
        property: Option<PropertyId>,
    ) -> anyhow::Result<String> {
        self.sign(user, "staff", Some(role), property, self.ttl_from_now())
    }

    /// A guest token for one reservation, valid for `ttl` (the stay, typically).
    pub fn guest(
        &self,
        reservation: Uuid,
        property: PropertyId,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let exp =
            chrono::Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        self.sign(reservation, "guest", None, Some(property), exp)
    }

    /// A staff token with an explicit expiry (unix seconds): for tests of expiry.
    pub fn staff_expiring_at(
        &self,
        user: Uuid,
        role: Role,
        property: Option<PropertyId>,
        exp: i64,
    ) -> anyhow::Result<String> {
        self.sign(user, "staff", Some(role), property, exp)
    }

    fn ttl_from_now(&self) -> i64 {
        chrono::Utc::now().timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(900)
    }

    fn sign(
        &self,
        sub: Uuid,
        kind: &str,
        role: Option<Role>,
        property: Option<PropertyId>,
        exp: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub,
            kind: kind.into(),
            role,
            pid: property.map(|p| p.0),
            iat: chrono::Utc::now().timestamp(),
            exp,
            jti: Uuid::new_v4(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The principal of a valid token, and its expiry (unix seconds).
    pub fn verify(&self, token: &str) -> Result<(Principal, i64), TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let c = data.claims;
        let principal = match (c.kind.as_str(), c.role, c.pid) {
            ("staff", Some(Role::Admin), None) => Principal::Staff {
                user_id: c.sub,
                property: None,
                role: Role::Admin,
            },
            ("staff", Some(role), Some(pid)) if role != Role::Admin => Principal::Staff {
                user_id: c.sub,
                property: Some(PropertyId(pid)),
                role,
            },
            ("guest", None, Some(pid)) => Principal::Guest {
                reservation_id: c.sub,
                property: PropertyId(pid),
            },
            _ => return Err(TokenError::Invalid),
        };
        Ok((principal, c.exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &str) -> TokenIssuer {
        TokenIssuer::new(
            &SecretString::from(secret.to_owned()),
            Duration::from_secs(900),
        )
    }

    #[test]
    fn tokens_round_trip_and_carry_the_principal() {
        let t = issuer("a-test-secret-of-at-least-32-bytes!");
        let pid = PropertyId::new();
        let user = Uuid::new_v4();
        let token = t.staff(user, Role::Housekeeper, Some(pid)).unwrap();
        let (p, exp) = t.verify(&token).unwrap();
        assert_eq!(
            p,
            Principal::Staff {
                user_id: user,
                property: Some(pid),
                role: Role::Housekeeper
            }
        );
        assert!(exp > chrono::Utc::now().timestamp());
        let guest = t.guest(user, pid, Duration::from_secs(60)).unwrap();
        assert!(matches!(
            t.verify(&guest).unwrap().0,
            Principal::Guest { .. }
        ));
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let t = issuer("a-test-secret-of-at-least-32-bytes!");
        let pid = PropertyId::new();
        let token = t
            .staff(Uuid::new_v4(), Role::Housekeeper, Some(pid))
            .unwrap();
        // Flip one character of the payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload = parts[1].clone().into_bytes();
        payload[5] = if payload[5] == b'A' { b'B' } else { b'A' };
        parts[1] = String::from_utf8(payload).unwrap();
        assert_eq!(t.verify(&parts.join(".")).unwrap_err(), TokenError::Invalid);
        let other = issuer("another-secret-of-at-least-32-bytes!");
        assert_eq!(other.verify(&token).unwrap_err(), TokenError::Invalid);
        let old = t
            .staff_expiring_at(
                Uuid::new_v4(),
                Role::Manager,
                Some(pid),
                chrono::Utc::now().timestamp() - 60,
            )
            .unwrap();
        assert_eq!(t.verify(&old).unwrap_err(), TokenError::Expired);
        assert_eq!(t.verify("garbage").unwrap_err(), TokenError::Invalid);
        // A staff token claiming admin with a property, or a role with none, is malformed.
        let odd = t
            .sign(
                Uuid::new_v4(),
                "staff",
                Some(Role::Admin),
                Some(pid),
                t.ttl_from_now(),
            )
            .unwrap();
        assert_eq!(t.verify(&odd).unwrap_err(), TokenError::Invalid);
    }
}

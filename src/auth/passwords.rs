//! Password hashing with argon2id. Hashing takes tens of milliseconds of CPU on purpose, so it
//! runs on the blocking pool, never on an HTTP worker or actor thread.

use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};

/// Minimum password length for staff accounts.
pub(crate) const MIN_PASSWORD: usize = 10;

pub(crate) async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        // The salt comes from the OS RNG inside `hash_password`.
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Verifies `password` against a stored PHC string. `None` (no such user) still spends the
/// same work on a fixed hash, so response time does not reveal which emails exist.
pub(crate) async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && stored != DUMMY_HASH
    })
    .await
    .unwrap_or(false)
}

/// argon2id of a random string nobody knows; used only to spend time on unknown emails.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1jFxPxHK7TrMSNSxVKm0gqXmnrYblrJCBMmOHM8B4dU";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("wrong".into(), Some(h)).await);
        assert!(!verify("anything".into(), None).await);
        assert!(!verify("anything".into(), Some("not a hash".into())).await);
    }
}

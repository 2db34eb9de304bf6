//! Who may sign in: staff users and their second factor, refresh-token families, API keys.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    ApiKeyRecord, RefreshOutcome, RefreshRecord, Store, StoreError, UserRecord,
    sql::{Cols, Conn, args, from_name, name_of, seq},
};
use crate::domain::{Action, PropertyId};

const USER_COLUMNS: &str = "id, property_id, email, name, role, password_hash, totp_secret, \
    totp_enabled, created_at";

fn user(mut c: Cols) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: c.take()?,
        property_id: c.take::<Option<Uuid>>()?.map(PropertyId),
        email: c.take()?,
        name: c.take()?,
        role: c.name()?,
        password_hash: c.take()?,
        totp_secret: c.take()?,
        totp_enabled: c.take()?,
        created_at: c.take()?,
    })
}

const API_KEY_COLUMNS: &str =
    "id, property_id, name, key_hash, permissions, created_by, created_at, revoked_at";

/// Action names as stored in `api_keys.permissions`: comma-separated.
fn actions_text(actions: &[Action]) -> String {
    actions.iter().map(name_of).collect::<Vec<_>>().join(",")
}

fn api_key(mut c: Cols) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: c.take()?,
        property_id: PropertyId(c.take()?),
        name: c.take()?,
        key_hash: c.take()?,
        permissions: c
            .take::<String>()?
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| {
                from_name(a.to_owned())
                    .map_err(|e| StoreError::Other(anyhow::anyhow!("bad permission in store: {e}")))
            })
            .collect::<Result<_, _>>()?,
        created_by: c.take()?,
        created_at: c.take()?,
        revoked_at: c.take()?,
    })
}

impl Store {
    /// A user by (lower-cased) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.opt(
            format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
            args![email],
            user,
        )
        .await
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.opt(
            format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            args![id],
            user,
        )
        .await
    }

    /// The staff of a property, by email.
    pub async fn users(&self, property: PropertyId) -> Result<Vec<UserRecord>, StoreError> {
        self.all(
            format!("SELECT {USER_COLUMNS} FROM users WHERE property_id = $1 ORDER BY email"),
            args![property.0],
            user,
        )
        .await
    }

    /// Accepts TOTP time step `step` for `user` only if it is later than the last accepted one
    /// (a code works once). Returns whether it was accepted.
    pub async fn use_totp_step(&self, user: Uuid, step: u64) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "UPDATE users SET totp_last_step = $2
                 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                args![user, seq(step)?],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn insert_refresh(&self, t: RefreshRecord) -> Result<(), StoreError> {
        self.run("insert_refresh", false, move |c| {
            Box::pin(async move { insert_refresh(c, &t, t.user_id, t.family_id).await })
        })
        .await
    }

    /// Presents the refresh token with hash `old`: when valid, marks it used and stores
    /// `next` (whose `user_id` and `family_id` are taken from the old token) atomically.
    /// A token presented a second time revokes its whole family (a replay).
    pub async fn rotate_refresh(
        &self,
        old: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let old = old.to_owned();
        self.run("rotate_refresh", true, move |c| {
            Box::pin(async move {
                // FOR UPDATE: two concurrent presentations of one token are serialized, so
                // exactly one can rotate it and the other is seen as a reuse.
                let sql = format!(
                    "SELECT user_id, family_id, expires_at, used_at, revoked_at
                     FROM refresh_tokens WHERE token_hash = $1 {}",
                    c.dialect().for_update()
                );
                let Some(found) = c
                    .opt(&sql, &args![&old], |mut c| {
                        Ok((
                            c.take::<Uuid>()?,
                            c.take::<Uuid>()?,
                            c.take::<DateTime<Utc>>()?,
                            c.take::<Option<DateTime<Utc>>>()?,
                            c.take::<Option<DateTime<Utc>>>()?,
                        ))
                    })
                    .await?
                else {
                    return Ok(RefreshOutcome::Invalid);
                };
                let (user_id, family, expires_at, used_at, revoked_at) = found;
                if used_at.is_some() {
                    c.execute(
                        "UPDATE refresh_tokens SET revoked_at = $2
                         WHERE family_id = $1 AND revoked_at IS NULL",
                        &args![family, now],
                    )
                    .await?;
                    return Ok(RefreshOutcome::Reused);
                }
                if revoked_at.is_some() || expires_at <= now {
                    return Ok(RefreshOutcome::Invalid);
                }
                c.execute(
                    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                    &args![&old, now],
                )
                .await?;
                insert_refresh(c, &next, user_id, family).await?;
                Ok(RefreshOutcome::Rotated { user_id })
            })
        })
        .await
    }

    /// Revokes the family of the refresh token with this hash (logout). Whether it existed.
    pub async fn revoke_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "UPDATE refresh_tokens SET revoked_at = $2
                 WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
                   AND revoked_at IS NULL",
                args![hash, now],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.opt(
            format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
            args![hash],
            api_key,
        )
        .await
    }

    pub async fn api_keys(&self, property: PropertyId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.all(
            format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE property_id = $1
                 ORDER BY created_at, id"
            ),
            args![property.0],
            api_key,
        )
        .await
    }
}

async fn insert_refresh(
    c: &mut dyn Conn,
    t: &RefreshRecord,
    user_id: Uuid,
    family_id: Uuid,
) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &args![
            t.id,
            user_id,
            family_id,
            &t.token_hash,
            t.issued_at,
            t.expires_at
        ],
    )
    .await
}

pub(super) async fn insert_user(c: &mut dyn Conn, u: &UserRecord) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO users (id, property_id, email, name, role, password_hash, totp_secret,
             totp_enabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &args![
            u.id,
            u.property_id.map(|p| p.0),
            &u.email,
            &u.name,
            name_of(&u.role),
            &u.password_hash,
            u.totp_secret.as_deref(),
            u.totp_enabled,
            u.created_at
        ],
    )
    .await
}

pub(super) async fn set_totp(
    c: &mut dyn Conn,
    user: Uuid,
    secret: Option<&str>,
    enabled: bool,
) -> Result<(), StoreError> {
    c.write(
        "UPDATE users SET totp_secret = $2, totp_enabled = $3 WHERE id = $1",
        &args![user, secret, enabled],
    )
    .await
}

pub(super) async fn insert_api_key(c: &mut dyn Conn, k: &ApiKeyRecord) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO api_keys (id, property_id, name, key_hash, permissions, created_by,
             created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &args![
            k.id,
            k.property_id.0,
            &k.name,
            &k.key_hash,
            actions_text(&k.permissions),
            &k.created_by,
            k.created_at,
            k.revoked_at
        ],
    )
    .await
}

pub(super) async fn revoke_api_key(
    c: &mut dyn Conn,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.write(
        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &args![id, at],
    )
    .await
}

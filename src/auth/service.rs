//! The authentication service: login, refresh, logout, TOTP, users, API keys.
//!
//! Everything that changes who can log in (a user, a TOTP enrolment, an API key) is an event
//! in the log with who did it, written with its projection in one transaction. Session churn
//! (refresh tokens) is not: it is kept in its own table.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use totp_rs::{Builder, Secret, Totp};
use uuid::Uuid;

use super::{
    limiter::LoginLimiter,
    passwords::{self, MIN_PASSWORD},
    secrets::{random_bytes, random_token, token_hash},
    tokens::{TokenError, TokenIssuer},
};
use crate::{
    domain::{Action, Agent, Principal, PropertyId, Role},
    persistence::{
        self, ApiKeyRecord, NewEvent, Projection, RefreshOutcome, RefreshRecord, Store, StoreError,
        UserRecord,
    },
};

/// Why authentication (or an account operation) failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the token has expired")]
    Expired,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("this account needs a TOTP code")]
    TotpRequired,
    #[error("the TOTP code is wrong or was already used")]
    InvalidTotp,
    #[error("this refresh token was already used; the session is revoked")]
    RefreshReused,
    #[error("the refresh token is invalid or expired")]
    InvalidRefresh,
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    #[error("{0}")]
    Invalid(String),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A verified caller and, for tokens, when its token expires (unix seconds).
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub expires_at: Option<i64>,
}

/// A user as clients see it.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub id: Uuid,
    pub property_id: Option<PropertyId>,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub totp_enabled: bool,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            property_id: u.property_id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role,
            totp_enabled: u.totp_enabled,
        }
    }
}

/// The answer to a login or a refresh.
#[derive(Debug, Serialize)]
pub struct LoginOk {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: UserView,
}

/// A user to create.
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: String,
}

/// A freshly created API key: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub struct NewApiKey {
    pub id: Uuid,
    pub name: String,
    pub key: String,
    pub permissions: Vec<Action>,
}

/// Authentication for one node.
pub struct AuthService {
    store: Arc<Store>,
    tokens: TokenIssuer,
    limiter: LoginLimiter,
    refresh_ttl: Duration,
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn totp_for(secret_b32: &str, account: &str) -> Result<Totp, AuthError> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|e| AuthError::Internal(anyhow::anyhow!("stored TOTP secret: {e}")))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some("Bellhop"))
        .build()
        .map_err(|e| AuthError::Internal(anyhow::anyhow!("TOTP: {e}")))
}

impl AuthService {
    #[must_use]
    pub fn new(
        store: Arc<Store>,
        tokens: TokenIssuer,
        limiter: LoginLimiter,
        refresh_ttl: Duration,
    ) -> Self {
        Self {
            store,
            tokens,
            limiter,
            refresh_ttl,
        }
    }

    /// The token issuer (the reservation flow issues guest tokens with it).
    #[must_use]
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// Verifies a bearer credential: an API key (`bh_…`) or a JWT.
    pub async fn authenticate(&self, bearer: &str) -> Result<Authenticated, AuthError> {
        if bearer.starts_with("bh_") {
            let key = self
                .store
                .api_key_by_hash(&token_hash(bearer))
                .await?
                .filter(|k| k.revoked_at.is_none())
                .ok_or(AuthError::InvalidToken)?;
            return Ok(Authenticated {
                principal: Principal::ApiKey {
                    key_id: key.id,
                    property: key.property_id,
                    permissions: key.permissions,
                },
                expires_at: None,
            });
        }
        let (principal, exp) = self.tokens.verify(bearer).map_err(|e| match e {
            TokenError::Expired => AuthError::Expired,
            TokenError::Invalid => AuthError::InvalidToken,
        })?;
        Ok(Authenticated {
            principal,
            expires_at: Some(exp),
        })
    }

    /// Whether a credential accepted earlier still stands: an API key may have been revoked
    /// since (a JWT cannot be revoked; it expires). Long-lived WebSocket sessions ask this on
    /// their heartbeat, so a revoked key loses its open sockets too, on every node.
    pub async fn still_valid(&self, auth: &Authenticated) -> Result<bool, AuthError> {
        match &auth.principal {
            Principal::ApiKey {
                key_id, property, ..
            } => Ok(self
                .store
                .api_keys(*property)
                .await?
                .iter()
                .any(|k| k.id == *key_id && k.revoked_at.is_none())),
            Principal::Staff { .. } | Principal::Guest { .. } => Ok(true),
        }
    }

    /// Email + password (+ TOTP once enrolled) → tokens.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
        address: &str,
    ) -> Result<LoginOk, AuthError> {
        let email = normalize_email(email);
        self.limiter
            .check(&email, address)
            .await
            .map_err(AuthError::TooManyAttempts)?;
        let user = self.store.user_by_email(&email).await?;
        let ok = passwords::verify(
            password.to_owned(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
        let Some(user) = user.filter(|_| ok) else {
            self.limiter.failed(&email, address).await;
            return Err(AuthError::InvalidCredentials);
        };
        if user.totp_enabled {
            let Some(code) = totp else {
                return Err(AuthError::TotpRequired);
            };
            if !self.accept_totp(&user, code).await? {
                self.limiter.failed(&email, address).await;
                return Err(AuthError::InvalidTotp);
            }
        }
        self.limiter.succeeded(&email).await;
        let refresh = random_token(32);
        let now = persistence::now();
        self.store
            .insert_refresh(RefreshRecord {
                id: Uuid::new_v4(),
                user_id: user.id,
                family_id: Uuid::new_v4(),
                token_hash: token_hash(&refresh),
                issued_at: now,
                expires_at: now + self.refresh_ttl,
            })
            .await?;
        tracing::info!(user = %user.id, "login");
        self.answer(&user, refresh)
    }

    /// Whether `code` is the user's current TOTP and not used before (then it is used now).
    async fn accept_totp(&self, user: &UserRecord, code: &str) -> Result<bool, AuthError> {
        let Some(secret) = &user.totp_secret else {
            return Ok(false);
        };
        let Some(step) = totp_for(secret, &user.email)?.check_current(code.trim()) else {
            return Ok(false);
        };
        Ok(self.store.use_totp_step(user.id, step).await?)
    }

    fn answer(&self, user: &UserRecord, refresh: String) -> Result<LoginOk, AuthError> {
        Ok(LoginOk {
            access_token: self.tokens.staff(user.id, user.role, user.property_id)?,
            token_type: "Bearer",
            expires_in: self.tokens.ttl_secs(),
            refresh_token: refresh,
            user: UserView::from(user),
        })
    }

    /// Rotates a refresh token: the old one is spent, a new pair is issued.
    pub async fn refresh(&self, token: &str) -> Result<LoginOk, AuthError> {
        let next = random_token(32);
        let now = persistence::now();
        let outcome = self
            .store
            .rotate_refresh(
                &token_hash(token),
                RefreshRecord {
                    id: Uuid::new_v4(),
                    user_id: Uuid::nil(),
                    family_id: Uuid::nil(),
                    token_hash: token_hash(&next),
                    issued_at: now,
                    expires_at: now + self.refresh_ttl,
                },
                now,
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated { user_id } => {
                let user = self
                    .store
                    .user(user_id)
                    .await?
                    .ok_or(AuthError::InvalidRefresh)?;
                self.answer(&user, next)
            }
            RefreshOutcome::Reused => {
                tracing::warn!("a used refresh token was presented again; its session is revoked");
                Err(AuthError::RefreshReused)
            }
            RefreshOutcome::Invalid => Err(AuthError::InvalidRefresh),
        }
    }

    /// Ends the session (the refresh token's whole family).
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        if self
            .store
            .revoke_refresh(&token_hash(token), persistence::now())
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::InvalidRefresh)
        }
    }

    fn staff_id(principal: &Principal) -> Result<Uuid, AuthError> {
        match principal {
            Principal::Staff { user_id, .. } => Ok(*user_id),
            _ => Err(AuthError::Invalid(
                "only staff accounts have a second factor".into(),
            )),
        }
    }

    async fn account_event(
        &self,
        user: &UserRecord,
        kind: &str,
        payload: serde_json::Value,
        by: &Agent,
        projection: Projection,
    ) -> Result<(), AuthError> {
        let stream = format!("user:{}", user.id);
        let seq = self
            .store
            .read_stream(&stream, 0, 10_000)
            .await?
            .last()
            .map_or(1, |e| e.seq + 1);
        self.store
            .commit(
                vec![NewEvent {
                    stream,
                    seq,
                    property_id: user.property_id,
                    kind: kind.into(),
                    payload,
                    actor: by.clone(),
                    at: persistence::now(),
                }],
                vec![projection],
            )
            .await?;
        Ok(())
    }

    /// Starts TOTP enrolment: a new secret, not yet required. Returns (base32, otpauth URL).
    pub async fn totp_enroll(&self, principal: &Principal) -> Result<(String, String), AuthError> {
        let id = Self::staff_id(principal)?;
        let user = self.store.user(id).await?.ok_or(AuthError::InvalidToken)?;
        if user.totp_enabled {
            return Err(AuthError::Conflict(
                "totp_already_enabled",
                "a second factor is already enabled".into(),
            ));
        }
        let secret = Secret::from(random_bytes(20)).to_base32();
        let url = totp_for(&secret, &user.email)?
            .to_url()
            .map_err(|e| AuthError::Internal(anyhow::anyhow!("TOTP URL: {e}")))?;
        // The secret goes into the users row only, never into the event payload.
        self.account_event(
            &user,
            "totp_enrolled",
            serde_json::json!({}),
            &principal.agent(),
            Projection::SetTotp {
                user_id: id,
                secret: Some(secret.clone()),
                enabled: false,
            },
        )
        .await?;
        Ok((secret, url))
    }

    /// Confirms enrolment with a current code; from now on login needs one.
    pub async fn totp_verify(&self, principal: &Principal, code: &str) -> Result<(), AuthError> {
        let id = Self::staff_id(principal)?;
        let user = self.store.user(id).await?.ok_or(AuthError::InvalidToken)?;
        if user.totp_enabled {
            return Err(AuthError::Conflict(
                "totp_already_enabled",
                "a second factor is already enabled".into(),
            ));
        }
        if user.totp_secret.is_none() {
            return Err(AuthError::Invalid("enrol first".into()));
        }
        if !self.accept_totp(&user, code).await? {
            return Err(AuthError::InvalidTotp);
        }
        self.account_event(
            &user,
            "totp_enabled",
            serde_json::json!({}),
            &principal.agent(),
            Projection::SetTotp {
                user_id: id,
                secret: user.totp_secret.clone(),
                enabled: true,
            },
        )
        .await
    }

    /// Creates a staff user in `property` (`None` and role admin: a deployment admin).
    pub async fn create_user(
        &self,
        by: &Agent,
        property: Option<PropertyId>,
        new: NewUser,
    ) -> Result<UserRecord, AuthError> {
        let email = normalize_email(&new.email);
        if !(3..=254).contains(&email.len())
            || !email.contains('@')
            || email.contains(char::is_whitespace)
        {
            return Err(AuthError::Invalid("a valid email is required".into()));
        }
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AuthError::Invalid(
                "a name of 1 to 200 characters is required".into(),
            ));
        }
        if new.password.chars().count() < MIN_PASSWORD {
            return Err(AuthError::Invalid(format!(
                "a password needs at least {MIN_PASSWORD} characters"
            )));
        }
        if (new.role == Role::Admin) != property.is_none() {
            return Err(AuthError::Invalid(
                "admins belong to the deployment, every other role to one property".into(),
            ));
        }
        let user = UserRecord {
            id: Uuid::new_v4(),
            property_id: property,
            email,
            name,
            role: new.role,
            password_hash: passwords::hash(new.password).await?,
            totp_secret: None,
            totp_enabled: false,
            created_at: persistence::now(),
        };
        let event = NewEvent {
            stream: format!("user:{}", user.id),
            seq: 1,
            property_id: property,
            kind: "user_created".into(),
            payload: serde_json::json!({ "email": user.email, "name": user.name, "role": user.role }),
            actor: by.clone(),
            at: user.created_at,
        };
        self.store
            .commit(vec![event], vec![Projection::InsertUser(user.clone())])
            .await
            .map_err(|e| match e {
                StoreError::Constraint(c) if c == "users_email_key" => {
                    AuthError::Conflict("email_taken", "a user with this email exists".into())
                }
                other => other.into(),
            })?;
        Ok(user)
    }

    /// Creates an API key for `property` with the given permissions; the key is returned once.
    pub async fn create_api_key(
        &self,
        by: &Agent,
        property: PropertyId,
        name: &str,
        permissions: Vec<Action>,
    ) -> Result<NewApiKey, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "a name of 1 to 100 characters is required".into(),
            ));
        }
        if permissions.is_empty() {
            return Err(AuthError::Invalid("grant at least one permission".into()));
        }
        if let Some(a) = permissions.iter().find(|a| !a.grantable_to_api_keys()) {
            return Err(AuthError::Invalid(format!(
                "{a:?} cannot be granted to an API key"
            )));
        }
        let key = format!("bh_{}", random_token(32));
        let record = ApiKeyRecord {
            id: Uuid::new_v4(),
            property_id: property,
            name: name.to_owned(),
            key_hash: token_hash(&key),
            permissions: permissions.clone(),
            created_by: by.as_str().to_owned(),
            created_at: persistence::now(),
            revoked_at: None,
        };
        let event = NewEvent {
            stream: format!("api_key:{}", record.id),
            seq: 1,
            property_id: Some(property),
            kind: "api_key_created".into(),
            payload: serde_json::json!({ "name": record.name, "permissions": permissions }),
            actor: by.clone(),
            at: record.created_at,
        };
        self.store
            .commit(vec![event], vec![Projection::InsertApiKey(record.clone())])
            .await?;
        Ok(NewApiKey {
            id: record.id,
            name: record.name,
            key,
            permissions,
        })
    }

    /// Revokes an API key of `property`.
    pub async fn revoke_api_key(
        &self,
        by: &Agent,
        property: PropertyId,
        id: Uuid,
    ) -> Result<(), AuthError> {
        let key = self
            .store
            .api_keys(property)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or(AuthError::NotFound)?;
        if key.revoked_at.is_some() {
            return Err(AuthError::Conflict(
                "already_revoked",
                "the key is already revoked".into(),
            ));
        }
        let at = persistence::now();
        self.store
            .commit(
                vec![NewEvent {
                    stream: format!("api_key:{id}"),
                    seq: 2,
                    property_id: Some(property),
                    kind: "api_key_revoked".into(),
                    payload: serde_json::json!({}),
                    actor: by.clone(),
                    at,
                }],
                vec![Projection::RevokeApiKey { id, at }],
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    AuthError::Conflict("already_revoked", "the key is already revoked".into())
                }
                other => other.into(),
            })
    }

    /// `BELLHOP_ADMIN_EMAIL` / `BELLHOP_ADMIN_PASSWORD`: make sure this admin exists. An
    /// existing account is left as it is (its password is not reset from the environment).
    pub async fn ensure_admin(&self, email: &str, password: &str) -> anyhow::Result<()> {
        match self.store.user_by_email(&normalize_email(email)).await? {
            Some(u) if u.role == Role::Admin => Ok(()),
            Some(_) => {
                anyhow::bail!("BELLHOP_ADMIN_EMAIL names an existing user who is not an admin")
            }
            None => {
                let created = self
                    .create_user(
                        &Agent::system("config"),
                        None,
                        NewUser {
                            email: email.to_owned(),
                            name: "Administrator".into(),
                            role: Role::Admin,
                            password: password.to_owned(),
                        },
                    )
                    .await;
                match created {
                    Ok(user) => {
                        tracing::info!(user = %user.id, "created the admin account from the environment");
                        Ok(())
                    }
                    // Another node starting at the same moment created it first.
                    Err(AuthError::Conflict("email_taken", _)) => Ok(()),
                    Err(e) => Err(anyhow::anyhow!(
                        "creating the admin from BELLHOP_ADMIN_EMAIL: {e}"
                    )),
                }
            }
        }
    }
}

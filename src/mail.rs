//! The outbox worker: delivers the emails commands wrote into the outbox (DESIGN §3).
//!
//! Every node runs one. A pass claims due rows with a lease (so two workers never hold the
//! same row), sends each through lettre (SMTP when `SMTP_URL` is set, otherwise `.eml` files),
//! and marks it sent as soon as the server accepted it. A failure releases the row with the
//! next attempt `retry_base · 2^(attempts-1)` later, capped at `retry_max`; rows survive
//! restarts because they are rows. Delivery is at least once: the only window for a repeat
//! is a crash between the server's "250 OK" and our "sent" write, and the Message-ID (derived
//! from the row's idempotency key) lets a receiver drop that repeat.

use std::{sync::Arc, time::Duration};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use secrecy::ExposeSecret as _;
use tokio::sync::watch;

use crate::{
    auth::TokenIssuer,
    config::{EmailConfig, MailTransport},
    domain::notice::GUEST_LINK,
    persistence::{self, OutboxEmail, Store},
};

/// Rows claimed per pass.
const BATCH: usize = 16;
/// How long a claim lasts; longer than the SMTP timeout, so a slow send is never overlapped
/// by another worker's claim of the same row.
const LEASE: Duration = Duration::from_secs(90);
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// A row whose address can never work waits this long before anyone looks at it again.
const PARKED: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Why a send did not happen.
enum SendError {
    /// Worth another try later (server down, 4xx, I/O).
    Transient(String),
    /// Never going to work (a malformed address, a 5xx refusal).
    Permanent(String),
}

/// Sends outbox rows. One per node (cloned only to start it again after a panic).
#[derive(Clone)]
pub struct Mailer {
    store: Arc<Store>,
    transport: Transport,
    from: Mailbox,
    tokens: TokenIssuer,
    config: EmailConfig,
}

impl Mailer {
    /// Builds the transport `config` names; `tokens` signs the guests' links.
    pub fn new(
        store: Arc<Store>,
        config: EmailConfig,
        tokens: TokenIssuer,
    ) -> anyhow::Result<Self> {
        let transport = match &config.transport {
            MailTransport::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    // The URL may hold a password: say what is wrong, not what it was.
                    .map_err(|e| anyhow::anyhow!("SMTP_URL is not a valid SMTP URL: {e}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            MailTransport::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("cannot create the email directory {}: {e}", dir.display())
                })?;
                Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(dir))
            }
        };
        let from = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("BELLHOP_EMAIL_FROM is not an address: {e}"))?;
        Ok(Self {
            store,
            transport,
            from,
            tokens,
            config,
        })
    }

    /// Runs passes every `poll` until `stop` turns true; the pass under way finishes first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            self.deliver_due().await;
            tokio::select! {
                () = tokio::time::sleep(self.config.poll) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One pass: claims and sends what is due. Answers how many were sent.
    pub async fn deliver_due(&self) -> usize {
        let now = persistence::now();
        let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let mut due = match self.store.claim_emails(now, lease, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: claiming emails failed");
                return 0;
            }
        };
        // In the order they were caused (a change before the cancellation that followed it).
        due.sort_by_key(|e| e.created_at);
        let mut sent = 0;
        for email in due {
            match self.send(&email).await {
                Ok(()) => {
                    // Recorded at once: a row the server accepted is never sent again. Retried
                    // briefly, since a lost write here is the one way to a duplicate.
                    let mut recorded = false;
                    for pause in [0u64, 100, 500, 2000] {
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        if self
                            .store
                            .email_sent(email.id, persistence::now())
                            .await
                            .is_ok()
                        {
                            recorded = true;
                            break;
                        }
                    }
                    if !recorded {
                        tracing::error!(email = %email.id, "outbox: sent but could not record it; it may be sent again after the lease");
                    }
                    sent += 1;
                    tracing::info!(email = %email.id, kind = %email.kind, "outbox: email sent");
                }
                Err(SendError::Transient(why)) => {
                    let next = persistence::now() + self.retry_after(email.attempts);
                    tracing::warn!(email = %email.id, attempts = email.attempts, error = %why, %next, "outbox: send failed; will retry");
                    if let Err(e) = self.store.email_failed(email.id, next, &why).await {
                        tracing::warn!(email = %email.id, error = %e, "outbox: recording a failure failed");
                    }
                }
                Err(SendError::Permanent(why)) => {
                    let parked =
                        persistence::now() + chrono::Duration::from_std(PARKED).unwrap_or_default();
                    tracing::error!(email = %email.id, error = %why, "outbox: email cannot be delivered; parked");
                    if let Err(e) = self.store.email_failed(email.id, parked, &why).await {
                        tracing::warn!(email = %email.id, error = %e, "outbox: recording a failure failed");
                    }
                }
            }
        }
        sent
    }

    /// `retry_base · 2^(attempts-1)`, capped at `retry_max`.
    fn retry_after(&self, attempts: u32) -> chrono::Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        let wait = self
            .config
            .retry_base
            .saturating_mul(factor)
            .min(self.config.retry_max);
        chrono::Duration::from_std(wait).unwrap_or_default()
    }

    /// The body with the guest's link filled in (a token valid until the link expires).
    fn body(&self, email: &OutboxEmail) -> Result<String, SendError> {
        let Some(rid) = email.reservation_id else {
            return Ok(email.body.clone());
        };
        if !email.body.contains(GUEST_LINK) {
            return Ok(email.body.clone());
        }
        let until = email
            .link_expires_at
            .unwrap_or_else(|| persistence::now() + chrono::Duration::days(1));
        let ttl = (until - persistence::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(3600));
        let token = self
            .tokens
            .guest(rid.0, email.property_id, ttl)
            .map_err(|e| SendError::Transient(format!("signing the guest link: {e}")))?;
        let link = format!("{}/guest/{rid}?token={token}", self.config.public_url);
        Ok(email.body.replace(GUEST_LINK, &link))
    }

    async fn send(&self, email: &OutboxEmail) -> Result<(), SendError> {
        let to: Mailbox = email
            .recipient
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
        // `<reservation.<id>.<seq>@bellhop>`: stable per row, so a repeat is recognisable.
        let message_id = format!("<{}@bellhop>", email.idempotency_key.replace(':', "."));
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(message_id))
            .header(ContentType::TEXT_PLAIN)
            .body(self.body(email)?)
            .map_err(|e| SendError::Permanent(format!("building the email: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Transport::Files(files) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}

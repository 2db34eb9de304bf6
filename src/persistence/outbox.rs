//! The email outbox: queued in the transaction of the command that sends it, delivered after
//! it committed, claimed by one worker at a time on any node.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    OutboxEmail, Store, StoreError,
    sql::{Conn, args},
};
use crate::domain::{PropertyId, ReservationId};

impl Store {
    /// Claims up to `limit` due, unsent emails for this worker until `lease_until` (no other
    /// worker takes them meanwhile) and counts the attempt.
    pub async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(100);
        self.run("claim_emails", true, move |c| {
            Box::pin(async move {
                // SKIP LOCKED: workers on several nodes take disjoint rows instead of queueing
                // behind each other; the lease covers a worker that dies mid-send.
                let sql = format!(
                    "UPDATE outbox SET locked_until = $2, attempts = attempts + 1
                     WHERE id IN (
                         SELECT id FROM outbox
                         WHERE sent_at IS NULL AND next_attempt_at <= $1
                           AND (locked_until IS NULL OR locked_until < $1)
                         ORDER BY next_attempt_at LIMIT $3 {})
                     RETURNING id, property_id, kind, idempotency_key, recipient, subject, body,
                         reservation_id, link_expires_at, created_at, attempts",
                    c.dialect().skip_locked()
                );
                c.all(&sql, &args![now, lease_until, limit], |mut c| {
                    Ok(OutboxEmail {
                        id: c.take()?,
                        property_id: PropertyId(c.take()?),
                        kind: c.take()?,
                        idempotency_key: c.take()?,
                        recipient: c.take()?,
                        subject: c.take()?,
                        body: c.take()?,
                        reservation_id: c.take::<Option<Uuid>>()?.map(ReservationId),
                        link_expires_at: c.take()?,
                        created_at: c.take()?,
                        attempts: c.take()?,
                    })
                })
                .await
            })
        })
        .await
    }

    /// The email was accepted by the mail server (or written): never send it again.
    pub async fn email_sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.exec(
            "UPDATE outbox SET sent_at = $2, locked_until = NULL, last_error = NULL
             WHERE id = $1",
            args![id, at],
        )
        .await
        .map(drop)
    }

    /// The attempt failed: release the claim and try again at `next_attempt_at`.
    pub async fn email_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3
             WHERE id = $1 AND sent_at IS NULL",
            args![id, next_attempt_at, error],
        )
        .await
        .map(drop)
    }
}

pub(super) async fn enqueue(c: &mut dyn Conn, m: &OutboxEmail) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO outbox (id, property_id, kind, idempotency_key, recipient, subject, body,
             reservation_id, link_expires_at, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
         ON CONFLICT (idempotency_key) DO NOTHING",
        &args![
            m.id,
            m.property_id.0,
            &m.kind,
            &m.idempotency_key,
            &m.recipient,
            &m.subject,
            &m.body,
            m.reservation_id.map(|r| r.0),
            m.link_expires_at,
            m.created_at
        ],
    )
    .await
}

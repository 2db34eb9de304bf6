//! Guest conversations, who is connected to them, and the front desk's canned replies.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Store, StoreError,
    sql::{Conn, args, json, name_of, seq, state},
};
use crate::domain::{
    PropertyId,
    chat::{CannedReply, Conversation, InboxStatus},
    ids::ConversationId,
};

impl Store {
    pub async fn conversation(
        &self,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        self.opt(
            "SELECT state FROM conversations WHERE id = $1",
            args![id.0],
            state,
        )
        .await
    }

    /// A property's conversations in one status; without one, the inbox: every conversation
    /// where something happened, but the archived. Up to 10,000, in no particular order.
    pub async fn conversations(
        &self,
        property: PropertyId,
        status: Option<InboxStatus>,
    ) -> Result<Vec<Conversation>, StoreError> {
        let (sql, values) = match status {
            Some(status) => (
                "SELECT state FROM conversations WHERE property_id = $1 AND status = $2
                 LIMIT 10000",
                args![property.0, name_of(&status)].to_vec(),
            ),
            // A reservation's conversation opens at version 1: the inbox shows those where
            // something happened since.
            None => (
                "SELECT state FROM conversations WHERE property_id = $1
                 AND status <> 'archived' AND version > 1 LIMIT 10000",
                args![property.0].to_vec(),
            ),
        };
        self.all(sql, values, state).await
    }

    /// Conversations whose staff reply has waited unread since `before` or longer, and whose
    /// guest is not connected at `now`: the email fallback's work (up to 500).
    pub async fn conversations_waiting(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationId>, StoreError> {
        self.all(
            "SELECT id FROM conversations WHERE waiting_since <= $1
             AND (guest_present_until IS NULL OR guest_present_until < $2)
             ORDER BY waiting_since LIMIT 500",
            args![before, now],
            |mut c| Ok(ConversationId(c.take()?)),
        )
        .await
    }

    /// A guest device is connected to the conversation until `until` (`None`: it left).
    pub async fn set_guest_presence(
        &self,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE conversations SET guest_present_until = $2 WHERE id = $1",
            args![id.0, until],
        )
        .await
        .map(drop)
    }

    /// Whether a guest device is connected to the conversation at `now`.
    pub async fn guest_present(
        &self,
        id: ConversationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found = self
            .opt(
                "SELECT id FROM conversations WHERE id = $1 AND guest_present_until >= $2",
                args![id.0, now],
                |_| Ok(()),
            )
            .await?;
        Ok(found.is_some())
    }

    /// A property's canned replies, by title.
    pub async fn canned_replies(
        &self,
        property: PropertyId,
    ) -> Result<Vec<CannedReply>, StoreError> {
        self.all(
            "SELECT id, property_id, title, body, updated_at FROM canned_replies
             WHERE property_id = $1 ORDER BY title",
            args![property.0],
            |mut c| {
                Ok(CannedReply {
                    id: c.take()?,
                    property_id: PropertyId(c.take()?),
                    title: c.take()?,
                    body: c.take()?,
                    updated_at: c.take()?,
                })
            },
        )
        .await
    }
}

pub(super) async fn upsert_conversation(
    c: &mut dyn Conn,
    conv: &Conversation,
) -> Result<(), StoreError> {
    c.upsert_versioned(
        "INSERT INTO conversations (id, property_id, reservation_id, status, state, version,
             updated_at, waiting_since)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET
             status = EXCLUDED.status, state = EXCLUDED.state,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
             waiting_since = EXCLUDED.waiting_since
         WHERE conversations.version < EXCLUDED.version",
        &args![
            conv.id.0,
            conv.property_id.0,
            conv.reservation_id.0,
            name_of(&conv.status),
            json(conv)?,
            seq(conv.version)?,
            conv.updated_at,
            conv.waiting_since()
        ],
        "conversations_version",
    )
    .await
}

pub(super) async fn upsert_canned_reply(
    c: &mut dyn Conn,
    r: &CannedReply,
) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO canned_replies (id, property_id, title, body, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET
             title = EXCLUDED.title, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at
         WHERE canned_replies.property_id = EXCLUDED.property_id",
        &args![r.id, r.property_id.0, &r.title, &r.body, r.updated_at],
    )
    .await
}

pub(super) async fn delete_canned_reply(
    c: &mut dyn Conn,
    property: PropertyId,
    id: Uuid,
) -> Result<(), StoreError> {
    c.write(
        "DELETE FROM canned_replies WHERE id = $1 AND property_id = $2",
        &args![id, property.0],
    )
    .await
}

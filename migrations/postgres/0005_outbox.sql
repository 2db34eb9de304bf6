-- 0005: the outbox (DESIGN §3). Forward-only: never edit after it has shipped.
--
-- A side effect (an email today, webhooks later) is a row written in the same transaction as
-- the command that causes it, so it exists exactly when the change does. A background worker
-- on any node delivers due rows: it claims a row with a lease (`locked_until`), sends, then
-- marks it sent; a failure schedules the next attempt with a growing pause.
CREATE TABLE outbox (
    id              uuid        PRIMARY KEY,
    property_id     uuid        NOT NULL REFERENCES properties (id),
    -- What it tells: reservation_confirmed, reservation_modified, reservation_canceled,
    -- waitlist_promoted.
    kind            text        NOT NULL,
    -- One row per cause (e.g. `reservation:<id>:<seq>`): the cause can never enqueue twice,
    -- and the email's Message-ID is derived from it so a receiver can drop a duplicate.
    idempotency_key text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    -- The text; `{guest_link}` is replaced by a fresh guest link when sent, so no bearer
    -- token is ever stored here.
    body            text        NOT NULL,
    reservation_id  uuid,
    link_expires_at timestamptz,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    sent_at         timestamptz,
    last_error      text,
    CONSTRAINT outbox_idempotency_key_key UNIQUE (idempotency_key)
);

-- The worker's scan: unsent rows by due time.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;

-- 0005: the outbox (DESIGN §3). Forward-only: never edit after it has shipped.
-- See the PostgreSQL migration of the same number for what each column means.
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY,
    property_id     TEXT    NOT NULL REFERENCES properties (id),
    kind            TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    reservation_id  TEXT,
    link_expires_at TEXT,
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    locked_until    TEXT,
    sent_at         TEXT,
    last_error      TEXT,
    CONSTRAINT outbox_idempotency_key_key UNIQUE (idempotency_key)
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;

-- 0013: idempotency keys of HTTP requests (see the PostgreSQL migration of the same number).
-- Forward-only.
CREATE TABLE request_keys (
    agent      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    stream     TEXT,
    seq        INTEGER,
    status     INTEGER,
    body       TEXT,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (agent, key)
);
CREATE INDEX request_keys_by_age ON request_keys (created_at);

-- 0013: idempotency keys of HTTP requests. Forward-only: never edit after it has shipped.
--
-- A row is written in the same transaction as the events of the command the request caused
-- (so a retry can never find the events without the key, or the key without the events), and
-- the answer the client was given is added once it is known. Rows are kept for 48 hours.
CREATE TABLE request_keys (
    agent      text        NOT NULL,
    key        text        NOT NULL,
    -- The first event the request committed.
    stream     text,
    seq        bigint,
    -- The answer, once known.
    status     integer,
    body       text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (agent, key)
);
CREATE INDEX request_keys_by_age ON request_keys (created_at);

-- 0011: guest chat (see the PostgreSQL migration of the same number). Forward-only.
CREATE TABLE conversations (
    id                  TEXT    PRIMARY KEY,
    property_id         TEXT    NOT NULL REFERENCES properties (id),
    reservation_id      TEXT    NOT NULL UNIQUE REFERENCES reservations (id),
    status              TEXT    NOT NULL CHECK (status IN ('todo', 'waiting', 'follow_up',
                                    'done', 'archived')),
    state               TEXT    NOT NULL,
    version             INTEGER NOT NULL CHECK (version > 0),
    updated_at          TEXT    NOT NULL,
    waiting_since       TEXT,
    guest_present_until TEXT
);

CREATE INDEX conversations_by_property ON conversations (property_id, updated_at);
CREATE INDEX conversations_waiting ON conversations (waiting_since)
    WHERE waiting_since IS NOT NULL;

CREATE TABLE canned_replies (
    id          TEXT PRIMARY KEY,
    property_id TEXT NOT NULL REFERENCES properties (id),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (property_id, title)
);

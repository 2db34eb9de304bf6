-- 0011: guest chat. Forward-only: never edit after it has shipped.
--
-- The projection of each conversation stream `conversation:<id>` (its messages and marks are
-- the events themselves): the columns the inbox and the email fallback are read by, and the
-- whole state as JSON. One conversation per reservation; it has the reservation's id.
CREATE TABLE conversations (
    id                  uuid        PRIMARY KEY,
    property_id         uuid        NOT NULL REFERENCES properties (id),
    reservation_id      uuid        NOT NULL REFERENCES reservations (id),
    status              text        NOT NULL CHECK (status IN ('todo', 'waiting', 'follow_up',
                                        'done', 'archived')),
    state               jsonb       NOT NULL,
    version             bigint      NOT NULL CHECK (version > 0),
    updated_at          timestamptz NOT NULL,
    -- Since when a staff reply has waited unread and not emailed: what the fallback scans.
    waiting_since       timestamptz,
    -- A connected guest device keeps this in the future (refreshed on every heartbeat), so
    -- a node that dies leaves no guest "connected" for longer than two heartbeats.
    guest_present_until timestamptz,
    CONSTRAINT conversations_reservation_key UNIQUE (reservation_id)
);

CREATE INDEX conversations_by_property ON conversations (property_id, updated_at);
CREATE INDEX conversations_waiting ON conversations (waiting_since)
    WHERE waiting_since IS NOT NULL;

-- Canned replies, managed per property; titles are what staff pick them by.
CREATE TABLE canned_replies (
    id          uuid        PRIMARY KEY,
    property_id uuid        NOT NULL REFERENCES properties (id),
    title       text        NOT NULL,
    body        text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT canned_replies_title_key UNIQUE (property_id, title)
);

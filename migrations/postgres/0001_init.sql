-- 0001: the event log, properties and the room board projection (PostgreSQL).
-- Forward-only: never edit after it has shipped; add 0002 instead.

-- The immutable audit trail. Every change to every entity is one row, in its stream's order.
CREATE TABLE events (
    -- Storage order only. Sequences are not commit-ordered: never resume a client by `id`,
    -- resume per stream by `seq` (DESIGN §3).
    id          bigserial   PRIMARY KEY,
    -- `room:<uuid>`, `property:<uuid>`, later `reservation:<uuid>`, `task:<uuid>`, ...
    stream      text        NOT NULL,
    -- 1, 2, 3, ... without gaps within a stream.
    seq         bigint      NOT NULL CHECK (seq > 0),
    -- The property the stream belongs to, so the audit trail can be read per hotel.
    property_id uuid,
    kind        text        NOT NULL,
    payload     jsonb       NOT NULL,
    -- Who: a user, an API key, `system:<job>` or `anonymous`.
    actor_user  text        NOT NULL,
    at          timestamptz NOT NULL,
    -- The optimistic-concurrency fence: two writers of the same seq, exactly one wins.
    CONSTRAINT events_stream_seq_key UNIQUE (stream, seq)
);

CREATE INDEX events_property_at ON events (property_id, at);

CREATE TABLE properties (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    timezone   text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- The room board: one row per room with its current facets. Written in the same transaction
-- as the room's events; `version` equals the seq of the room's last event.
CREATE TABLE rooms (
    id           uuid        PRIMARY KEY,
    property_id  uuid        NOT NULL REFERENCES properties (id),
    number       text        NOT NULL,
    floor        smallint    NOT NULL,
    room_type    text        NOT NULL,
    cleanliness  text        NOT NULL CHECK (cleanliness IN ('dirty', 'pickup', 'clean', 'inspected')),
    hk_occupancy text        NOT NULL CHECK (hk_occupancy IN ('vacant', 'occupied', 'unknown')),
    fo_occupancy text        NOT NULL CHECK (fo_occupancy IN ('vacant', 'occupied')),
    service      text        NOT NULL CHECK (service IN ('none', 'dnd', 'make_up_room', 'refused')),
    rush         boolean     NOT NULL,
    -- The maintenance block (kind, from, to, reason, return_status), or NULL.
    block        jsonb,
    version      bigint      NOT NULL CHECK (version > 0),
    updated_at   timestamptz NOT NULL,
    CONSTRAINT rooms_property_number_key UNIQUE (property_id, number)
);

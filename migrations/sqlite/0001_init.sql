-- 0001: the event log, properties and the room board projection (SQLite).
-- Same shape as migrations/postgres/0001_init.sql; see the comments there.
-- Uuids are TEXT, timestamps are RFC 3339 TEXT with microseconds (they sort as text),
-- JSON is TEXT.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stream      TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    property_id TEXT,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    actor_user  TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    CONSTRAINT events_stream_seq_key UNIQUE (stream, seq)
);

CREATE INDEX events_property_at ON events (property_id, at);

CREATE TABLE properties (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE rooms (
    id           TEXT    PRIMARY KEY,
    property_id  TEXT    NOT NULL REFERENCES properties (id),
    number       TEXT    NOT NULL,
    floor        INTEGER NOT NULL,
    room_type    TEXT    NOT NULL,
    cleanliness  TEXT    NOT NULL CHECK (cleanliness IN ('dirty', 'pickup', 'clean', 'inspected')),
    hk_occupancy TEXT    NOT NULL CHECK (hk_occupancy IN ('vacant', 'occupied', 'unknown')),
    fo_occupancy TEXT    NOT NULL CHECK (fo_occupancy IN ('vacant', 'occupied')),
    service      TEXT    NOT NULL CHECK (service IN ('none', 'dnd', 'make_up_room', 'refused')),
    rush         INTEGER NOT NULL CHECK (rush IN (0, 1)),
    block        TEXT,
    version      INTEGER NOT NULL CHECK (version > 0),
    updated_at   TEXT    NOT NULL,
    CONSTRAINT rooms_property_number_key UNIQUE (property_id, number)
);

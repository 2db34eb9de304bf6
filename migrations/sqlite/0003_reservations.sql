-- 0003: guest profiles, room types, reservations (SQLite).
-- Same shape as migrations/postgres/0003_reservations.sql; see the comments there. Dates are
-- TEXT 'YYYY-MM-DD' (they compare as text).

CREATE TABLE guests (
    id          TEXT PRIMARY KEY,
    property_id TEXT NOT NULL REFERENCES properties (id),
    name        TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    preferences TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE INDEX guests_property_email ON guests (property_id, lower(email));

CREATE TABLE room_types (
    property_id   TEXT    NOT NULL REFERENCES properties (id),
    code          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    max_occupancy INTEGER NOT NULL CHECK (max_occupancy BETWEEN 1 AND 20),
    CONSTRAINT room_types_pkey PRIMARY KEY (property_id, code)
);

CREATE TABLE reservations (
    id          TEXT    PRIMARY KEY,
    property_id TEXT    NOT NULL REFERENCES properties (id),
    guest_id    TEXT    NOT NULL REFERENCES guests (id),
    status      TEXT    NOT NULL CHECK (status IN ('tentative', 'waitlisted', 'confirmed',
                            'in_house', 'checked_out', 'canceled', 'no_show')),
    room_type   TEXT    NOT NULL,
    arrival     TEXT    NOT NULL,
    departure   TEXT    NOT NULL,
    adults      INTEGER NOT NULL CHECK (adults >= 1),
    children    INTEGER NOT NULL CHECK (children >= 0),
    room_id     TEXT    REFERENCES rooms (id),
    overbooked  INTEGER NOT NULL CHECK (overbooked IN (0, 1)),
    version     INTEGER NOT NULL CHECK (version > 0),
    updated_at  TEXT    NOT NULL,
    CONSTRAINT reservations_stay_check CHECK (departure > arrival)
);

CREATE INDEX reservations_property_arrival ON reservations (property_id, arrival);
CREATE INDEX reservations_property_departure ON reservations (property_id, departure);
CREATE INDEX reservations_guest ON reservations (guest_id);
CREATE INDEX reservations_room ON reservations (room_id, arrival);

-- SQLite has no exclusion constraints: these triggers are `reservations_room_no_overlap`.
-- Writes are serialized (one writer at a time), so checking before the write is race-free.
CREATE TRIGGER reservations_room_no_overlap_insert
BEFORE INSERT ON reservations
WHEN NEW.room_id IS NOT NULL AND NEW.status IN ('tentative', 'confirmed', 'in_house')
BEGIN
    SELECT RAISE(ABORT, 'reservations_room_no_overlap')
    WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.room_id = NEW.room_id AND r.id <> NEW.id
          AND r.status IN ('tentative', 'confirmed', 'in_house')
          AND r.arrival < NEW.departure AND NEW.arrival < r.departure
    );
END;

CREATE TRIGGER reservations_room_no_overlap_update
BEFORE UPDATE ON reservations
WHEN NEW.room_id IS NOT NULL AND NEW.status IN ('tentative', 'confirmed', 'in_house')
BEGIN
    SELECT RAISE(ABORT, 'reservations_room_no_overlap')
    WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.room_id = NEW.room_id AND r.id <> NEW.id
          AND r.status IN ('tentative', 'confirmed', 'in_house')
          AND r.arrival < NEW.departure AND NEW.arrival < r.departure
    );
END;

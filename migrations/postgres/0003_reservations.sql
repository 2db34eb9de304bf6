-- 0003: guest profiles, room types, reservations (PostgreSQL).
-- Forward-only: never edit after it has shipped.

-- btree_gist lets one exclusion constraint combine equality on a room with overlap of dates.
-- It is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A guest profile, shared by the guest's reservations at this property.
CREATE TABLE guests (
    id          uuid        PRIMARY KEY,
    property_id uuid        NOT NULL REFERENCES properties (id),
    name        text        NOT NULL,
    email       text,
    phone       text,
    -- Free-form notes ("high floor"), a JSON array of strings.
    preferences jsonb       NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Finding a returning guest by email.
CREATE INDEX guests_property_email ON guests (property_id, lower(email));

-- What a property sells. Rooms name their type by `code`; inventory is counted from rooms.
CREATE TABLE room_types (
    property_id   uuid     NOT NULL REFERENCES properties (id),
    code          text     NOT NULL,
    name          text     NOT NULL,
    max_occupancy smallint NOT NULL CHECK (max_occupancy BETWEEN 1 AND 20),
    CONSTRAINT room_types_pkey PRIMARY KEY (property_id, code)
);

-- The reservation projection: one row per reservation with its current state, written in the
-- same transaction as the reservation's events; `version` is the seq of its last event.
-- The nights of a stay are [arrival, departure): a departure day is free for the next arrival.
CREATE TABLE reservations (
    id          uuid        PRIMARY KEY,
    property_id uuid        NOT NULL REFERENCES properties (id),
    guest_id    uuid        NOT NULL REFERENCES guests (id),
    status      text        NOT NULL CHECK (status IN ('tentative', 'waitlisted', 'confirmed',
                                'in_house', 'checked_out', 'canceled', 'no_show')),
    room_type   text        NOT NULL,
    arrival     date        NOT NULL,
    departure   date        NOT NULL,
    adults      smallint    NOT NULL CHECK (adults >= 1),
    children    smallint    NOT NULL CHECK (children >= 0),
    room_id     uuid        REFERENCES rooms (id),
    -- Sold beyond the type's inventory, on a manager's explicit decision.
    overbooked  boolean     NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    updated_at  timestamptz NOT NULL,
    CONSTRAINT reservations_stay_check CHECK (departure > arrival),
    -- The last line of defence against double booking, behind the room actor's own check: one
    -- room never holds two live stays that share a night, whatever node or race wrote them.
    CONSTRAINT reservations_room_no_overlap EXCLUDE USING gist (
        room_id WITH =,
        daterange(arrival, departure) WITH &&
    ) WHERE (room_id IS NOT NULL AND status IN ('tentative', 'confirmed', 'in_house'))
);

-- Arrivals and departures lists, and availability by type and night.
CREATE INDEX reservations_property_arrival ON reservations (property_id, arrival);
CREATE INDEX reservations_property_departure ON reservations (property_id, departure);
CREATE INDEX reservations_guest ON reservations (guest_id);

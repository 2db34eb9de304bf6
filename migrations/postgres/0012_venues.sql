-- 0012: restaurants and bars. Forward-only: never edit after it has shipped.
--
-- Projections of the streams `venue:<id>`, `table:<id>` and `party:<id>`: the whole entity as
-- JSON (`state`, what the API shows) plus the columns queries and constraints need.
CREATE TABLE venues (
    id          uuid    PRIMARY KEY,
    property_id uuid    NOT NULL REFERENCES properties (id),
    state       jsonb   NOT NULL,
    version     bigint  NOT NULL CHECK (version > 0)
);
CREATE INDEX venues_by_property ON venues (property_id);

CREATE TABLE venue_tables (
    id       uuid   PRIMARY KEY,
    venue_id uuid   NOT NULL REFERENCES venues (id),
    name     text   NOT NULL,
    state    jsonb  NOT NULL,
    version  bigint NOT NULL CHECK (version > 0),
    CONSTRAINT venue_tables_name_key UNIQUE (venue_id, name)
);

-- Bookings, walk-ins and waitlist entries.
CREATE TABLE parties (
    id        uuid        PRIMARY KEY,
    venue_id  uuid        NOT NULL REFERENCES venues (id),
    kind      text        NOT NULL CHECK (kind IN ('booking', 'walk_in', 'waitlist')),
    status    text        NOT NULL,
    size      integer     NOT NULL CHECK (size > 0),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    state     jsonb       NOT NULL,
    version   bigint      NOT NULL CHECK (version > 0)
);
CREATE INDEX parties_by_venue_time ON parties (venue_id, starts_at);
-- The floor plan shows whoever is seated or waiting, however long ago they started.
CREATE INDEX parties_open ON parties (venue_id)
    WHERE status IN ('seated', 'paid', 'quoted', 'notified');

-- Which tables a party holds, when. `live` while the party holds them (booked, arrived,
-- seated, paid). The exclusion constraint is the guarantee across nodes: no table is ever
-- held by two parties at overlapping times (the table's actor checks first, on one node).
CREATE TABLE party_tables (
    party_id  uuid        NOT NULL REFERENCES parties (id),
    table_id  uuid        NOT NULL REFERENCES venue_tables (id),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL CHECK (ends_at > starts_at),
    live      boolean     NOT NULL,
    PRIMARY KEY (party_id, table_id),
    CONSTRAINT party_tables_no_overlap EXCLUDE USING gist (
        table_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (live)
);
CREATE INDEX party_tables_live ON party_tables (table_id, starts_at) WHERE live;

-- 0012: restaurants and bars (see the PostgreSQL migration of the same number). Forward-only.
CREATE TABLE venues (
    id          TEXT    PRIMARY KEY,
    property_id TEXT    NOT NULL REFERENCES properties (id),
    state       TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0)
);
CREATE INDEX venues_by_property ON venues (property_id);

CREATE TABLE venue_tables (
    id       TEXT    PRIMARY KEY,
    venue_id TEXT    NOT NULL REFERENCES venues (id),
    name     TEXT    NOT NULL,
    state    TEXT    NOT NULL,
    version  INTEGER NOT NULL CHECK (version > 0),
    UNIQUE (venue_id, name)
);

CREATE TABLE parties (
    id        TEXT    PRIMARY KEY,
    venue_id  TEXT    NOT NULL REFERENCES venues (id),
    kind      TEXT    NOT NULL CHECK (kind IN ('booking', 'walk_in', 'waitlist')),
    status    TEXT    NOT NULL,
    size      INTEGER NOT NULL CHECK (size > 0),
    starts_at TEXT    NOT NULL,
    ends_at   TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    version   INTEGER NOT NULL CHECK (version > 0)
);
CREATE INDEX parties_by_venue_time ON parties (venue_id, starts_at);
-- The floor plan shows whoever is seated or waiting, however long ago they started.
CREATE INDEX parties_open ON parties (venue_id)
    WHERE status IN ('seated', 'paid', 'quoted', 'notified');

CREATE TABLE party_tables (
    party_id  TEXT    NOT NULL REFERENCES parties (id),
    table_id  TEXT    NOT NULL REFERENCES venue_tables (id),
    starts_at TEXT    NOT NULL,
    ends_at   TEXT    NOT NULL CHECK (ends_at > starts_at),
    live      INTEGER NOT NULL,
    PRIMARY KEY (party_id, table_id)
);
CREATE INDEX party_tables_live ON party_tables (table_id, starts_at) WHERE live;

-- SQLite has no exclusion constraints: this trigger is `party_tables_no_overlap`. Writes are
-- serialized (one writer at a time), so checking before the write is race-free. Rows are
-- only ever inserted (a party's holds are replaced, never updated in place).
CREATE TRIGGER party_tables_no_overlap_insert
BEFORE INSERT ON party_tables
WHEN NEW.live
BEGIN
    SELECT RAISE(ABORT, 'party_tables_no_overlap')
    WHERE EXISTS (
        SELECT 1 FROM party_tables t
        WHERE t.table_id = NEW.table_id AND t.party_id <> NEW.party_id AND t.live
          AND t.starts_at < NEW.ends_at AND NEW.starts_at < t.ends_at
    );
END;

-- 0010: linen and amenity stock (see the PostgreSQL migration of the same number).
CREATE TABLE stock_items (
    property_id TEXT    NOT NULL REFERENCES properties (id),
    item        TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    low_at      INTEGER NOT NULL,
    uses        TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    CONSTRAINT stock_items_pkey PRIMARY KEY (property_id, item)
);

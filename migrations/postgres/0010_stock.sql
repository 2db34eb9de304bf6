-- 0010: linen and amenity stock. Forward-only.
-- The projection of each item's stream `stock:<pid>:<item>`: the count, the low threshold,
-- what each kind of finished task uses (JSON object: kind → quantity), and `version`, the seq
-- of the item's last event.
CREATE TABLE stock_items (
    property_id uuid   NOT NULL REFERENCES properties (id),
    item        text   NOT NULL,
    count       bigint NOT NULL,
    low_at      bigint NOT NULL,
    uses        jsonb  NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    CONSTRAINT stock_items_pkey PRIMARY KEY (property_id, item)
);

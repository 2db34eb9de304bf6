-- 0008: who is on duty, per day (the housekeeping roster). Forward-only.
--
-- One row per person and date; `floors` is the section they cover (a JSON array of floor
-- numbers; empty: any floor). Auto-assignment balances work among the people on duty whose
-- section holds the room.
CREATE TABLE shifts (
    property_id uuid  NOT NULL REFERENCES properties (id),
    date        date  NOT NULL,
    user_id     uuid  NOT NULL REFERENCES users (id),
    floors      jsonb NOT NULL,
    CONSTRAINT shifts_pkey PRIMARY KEY (property_id, date, user_id)
);

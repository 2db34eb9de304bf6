-- 0008: who is on duty, per day (see the PostgreSQL migration of the same number).
CREATE TABLE shifts (
    property_id TEXT NOT NULL REFERENCES properties (id),
    date        TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    floors      TEXT NOT NULL,
    CONSTRAINT shifts_pkey PRIMARY KEY (property_id, date, user_id)
);

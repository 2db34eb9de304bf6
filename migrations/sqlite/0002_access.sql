-- 0002: staff users, refresh tokens and API keys (SQLite).
-- Same shape as migrations/postgres/0002_access.sql; see the comments there.

CREATE TABLE users (
    id             TEXT    PRIMARY KEY,
    property_id    TEXT    REFERENCES properties (id),
    email          TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN
                       ('admin', 'manager', 'front_desk', 'housekeeper', 'maintenance', 'restaurant')),
    password_hash  TEXT    NOT NULL,
    totp_secret    TEXT,
    totp_enabled   INTEGER NOT NULL DEFAULT 0 CHECK (totp_enabled IN (0, 1)),
    totp_last_step INTEGER,
    created_at     TEXT    NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_admin_has_no_property CHECK ((role = 'admin') = (property_id IS NULL))
);

CREATE INDEX users_property ON users (property_id);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    property_id TEXT NOT NULL REFERENCES properties (id),
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);

CREATE INDEX api_keys_property ON api_keys (property_id);

CREATE INDEX events_actor_at ON events (actor_user, at);

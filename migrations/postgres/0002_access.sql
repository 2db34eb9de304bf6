-- 0002: staff users, refresh tokens and API keys (PostgreSQL).
-- Forward-only: never edit after it has shipped.

-- Staff. Admins belong to the deployment (no property); everyone else to exactly one.
CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    property_id    uuid        REFERENCES properties (id),
    -- Stored trimmed and lower-cased: the login identity.
    email          text        NOT NULL,
    name           text        NOT NULL,
    role           text        NOT NULL CHECK (role IN
                       ('admin', 'manager', 'front_desk', 'housekeeper', 'maintenance', 'restaurant')),
    -- argon2id PHC string; never leaves the server.
    password_hash  text        NOT NULL,
    -- TOTP second factor: the base32 secret once enrolled, required at login once enabled.
    totp_secret    text,
    totp_enabled   boolean     NOT NULL DEFAULT false,
    -- The last accepted TOTP time step, so a code works once.
    totp_last_step bigint,
    created_at     timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_admin_has_no_property CHECK ((role = 'admin') = (property_id IS NULL))
);

CREATE INDEX users_property ON users (property_id);

-- Rotating refresh tokens. Only a SHA-256 of the token is kept. A token is used once; the
-- family (one login) is revoked as a whole on logout or when a used token comes back
-- (someone replayed a stolen token).
CREATE TABLE refresh_tokens (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id),
    family_id   uuid        NOT NULL,
    token_hash  text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- API keys for integrations: one property, a set of granted actions, shown once, stored as a
-- SHA-256 (the key is 256 random bits, so a slow hash adds nothing).
CREATE TABLE api_keys (
    id          uuid        PRIMARY KEY,
    property_id uuid        NOT NULL REFERENCES properties (id),
    name        text        NOT NULL,
    key_hash    text        NOT NULL,
    -- Comma-separated action names (see src/domain/access.rs).
    permissions text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);

CREATE INDEX api_keys_property ON api_keys (property_id);

-- The audit trail is read per property and filtered by who.
CREATE INDEX events_actor_at ON events (actor_user, at);

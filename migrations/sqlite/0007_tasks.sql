-- 0007: housekeeping tasks (see the PostgreSQL migration of the same number). Forward-only.
CREATE TABLE tasks (
    id          TEXT    PRIMARY KEY,
    property_id TEXT    NOT NULL REFERENCES properties (id),
    kind        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('created', 'assigned', 'in_progress',
                            'on_hold', 'done', 'canceled')),
    room_id     TEXT    REFERENCES rooms (id),
    assignee    TEXT    REFERENCES users (id),
    state       TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    updated_at  TEXT    NOT NULL
);

CREATE INDEX tasks_open_by_property ON tasks (property_id)
    WHERE status IN ('created', 'assigned', 'in_progress', 'on_hold');
CREATE INDEX tasks_open_by_assignee ON tasks (assignee)
    WHERE status IN ('created', 'assigned', 'in_progress', 'on_hold');
CREATE INDEX tasks_open_by_room ON tasks (room_id)
    WHERE status IN ('created', 'assigned', 'in_progress', 'on_hold');

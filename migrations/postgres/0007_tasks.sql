-- 0007: housekeeping tasks. Forward-only: never edit after it has shipped.
--
-- The projection of each task stream `task:<id>`: the columns queues are read by, and the
-- whole task as JSON (`state`, what the API shows), written in the same transaction as the
-- task's events; `version` is the seq of its last event.
CREATE TABLE tasks (
    id          uuid        PRIMARY KEY,
    property_id uuid        NOT NULL REFERENCES properties (id),
    kind        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('created', 'assigned', 'in_progress',
                                'on_hold', 'done', 'canceled')),
    room_id     uuid        REFERENCES rooms (id),
    -- A staff user of the property.
    assignee    uuid        REFERENCES users (id),
    state       jsonb       NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    updated_at  timestamptz NOT NULL
);

-- The supervisor board and each housekeeper's queue read open tasks only.
CREATE INDEX tasks_open_by_property ON tasks (property_id)
    WHERE status IN ('created', 'assigned', 'in_progress', 'on_hold');
CREATE INDEX tasks_open_by_assignee ON tasks (assignee)
    WHERE status IN ('created', 'assigned', 'in_progress', 'on_hold');
CREATE INDEX tasks_open_by_room ON tasks (room_id)
    WHERE status IN ('created', 'assigned', 'in_progress', 'on_hold');

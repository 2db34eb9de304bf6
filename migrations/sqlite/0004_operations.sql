-- 0004: the business date and check-in policy of a property; reservation creation order
-- (the waitlist is first come, first served). Forward-only: never edit after it has shipped.

-- The hotel's business date (ISO date), rolled by the night audit. NULL until the first audit
-- or write sets it; readers then use the property's local date.
ALTER TABLE properties ADD COLUMN business_date TEXT;

-- Check-in only into inspected rooms (otherwise clean rooms are enough).
ALTER TABLE properties ADD COLUMN require_inspected INTEGER NOT NULL DEFAULT 0
    CHECK (require_inspected IN (0, 1));

-- When a reservation was booked (existing rows: their last change, the closest fact there is).
-- SQLite cannot add a NOT NULL column without a default; the store always writes it.
ALTER TABLE reservations ADD COLUMN created_at TEXT;
UPDATE reservations SET created_at = updated_at;

-- The waitlist of a room type, oldest first.
CREATE INDEX reservations_waitlist ON reservations (property_id, room_type, created_at)
    WHERE status = 'waitlisted';

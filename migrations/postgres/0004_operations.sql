-- 0004: the business date and check-in policy of a property; reservation creation order
-- (the waitlist is first come, first served). Forward-only: never edit after it has shipped.

-- The hotel's business date: the day the front desk is working, rolled by the night audit (a
-- background job that closes the day: no-shows, then the date moves on). NULL until the first
-- audit or write sets it; readers then use the property's local date.
ALTER TABLE properties ADD COLUMN business_date date;

-- Check-in only into inspected rooms (otherwise clean rooms are enough).
ALTER TABLE properties ADD COLUMN require_inspected boolean NOT NULL DEFAULT false;

-- When a reservation was booked. Existing rows get their last change time, the closest fact
-- there is.
ALTER TABLE reservations ADD COLUMN created_at timestamptz;
UPDATE reservations SET created_at = updated_at;
ALTER TABLE reservations ALTER COLUMN created_at SET NOT NULL;

-- The waitlist of a room type, oldest first.
CREATE INDEX reservations_waitlist ON reservations (property_id, room_type, created_at)
    WHERE status = 'waitlisted';
-- A room's stays, for the room actor's overlap check.
CREATE INDEX reservations_room ON reservations (room_id, arrival) WHERE room_id IS NOT NULL;

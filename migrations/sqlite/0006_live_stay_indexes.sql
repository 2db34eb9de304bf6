-- 0006: indexes for the two checks every booking and assignment runs (the same as PostgreSQL;
-- the query repeats the status list exactly, so SQLite can use these partial indexes).
-- Forward-only.
--
-- Both checks ask "which live stays share a night with [from, to)?". The arrival indexes of
-- 0003 answer `arrival < to` by scanning every stay that ever arrived before `to` — the whole
-- history of a hotel. Live stays (tentative, confirmed, in house) ending after `from` are a
-- few days' worth: these partial indexes hold only live rows, ordered by departure, so the
-- checks read what is current and nothing else. A stay leaves them when it is checked out,
-- canceled or a no-show.
CREATE INDEX reservations_live_by_type ON reservations (property_id, room_type, departure)
    WHERE status IN ('tentative', 'confirmed', 'in_house');
CREATE INDEX reservations_live_by_room ON reservations (room_id, departure)
    WHERE status IN ('tentative', 'confirmed', 'in_house');

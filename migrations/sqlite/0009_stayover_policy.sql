-- 0009: how often an in-house room gets a stayover clean (see the PostgreSQL migration).
ALTER TABLE properties ADD COLUMN stayover_every_days INTEGER NOT NULL DEFAULT 1
    CHECK (stayover_every_days BETWEEN 0 AND 30);

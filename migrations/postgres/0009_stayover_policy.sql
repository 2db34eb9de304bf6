-- 0009: how often an in-house room gets a stayover clean. Forward-only.
-- Every N days of a stay (1: daily, the default; 0: only on request). The night audit
-- creates the day's stayover tasks when it rolls the business date.
ALTER TABLE properties ADD COLUMN stayover_every_days smallint NOT NULL DEFAULT 1
    CHECK (stayover_every_days BETWEEN 0 AND 30);

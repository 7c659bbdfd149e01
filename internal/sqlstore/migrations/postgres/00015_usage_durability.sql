-- +goose Up
-- record_id makes the usage writer's inserts idempotent: a record replayed
-- from the spool after a crash or an outage is inserted at most once
-- (ON CONFLICT (record_id) DO NOTHING). Rows written before have NULL,
-- which never conflicts. The id starts with the time, so the index grows
-- at its end.
ALTER TABLE usage_records ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX usage_records_record_id ON usage_records (record_id);

-- +goose Down
DROP INDEX usage_records_record_id;
ALTER TABLE usage_records DROP COLUMN record_id;

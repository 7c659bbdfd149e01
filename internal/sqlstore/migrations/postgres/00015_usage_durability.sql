-- +goose Up
-- record_id makes the usage writer's inserts idempotent: a record replayed
-- from the spool after a crash or an outage is inserted at most once
-- (ON CONFLICT (record_id) DO NOTHING). Rows written before have NULL,
-- which never conflicts. The id starts with the time, so the index grows
-- at its end.
ALTER TABLE usage_records ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX usage_records_record_id ON usage_records (record_id);

-- usage_daily sums usage_records per UTC day (YYYY-MM-DD) and every
-- dimension the usage API filters or groups by. InsertUsage adds the rows
-- it actually inserted in the same transaction; UsageSummary reads whole
-- days from here and only a period's partial edges from usage_records.
CREATE TABLE usage_daily (
    day               TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    end_user_id       TEXT NOT NULL,
    model             TEXT NOT NULL,
    served_model      TEXT NOT NULL,
    status            TEXT NOT NULL,
    requests          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost              BIGINT NOT NULL,
    PRIMARY KEY (day, user_id, key_id, end_user_id, model, served_model, status)
);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
CREATE INDEX usage_daily_key ON usage_daily (key_id, day);
INSERT INTO usage_daily
SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), user_id, key_id, end_user_id, model, served_model, status,
       COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost)
FROM usage_records
GROUP BY to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), user_id, key_id, end_user_id, model, served_model, status;

-- +goose Down
DROP TABLE usage_daily;
DROP INDEX usage_records_record_id;
ALTER TABLE usage_records DROP COLUMN record_id;

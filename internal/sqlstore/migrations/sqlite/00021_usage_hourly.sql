-- +goose Up
-- usage_hourly sums usage_records per UTC hour ('YYYY-MM-DD HH') like
-- usage_daily does per day, for the last days only: InsertUsage adds the
-- rows it inserted in the same transaction, PruneUsage deletes hours older
-- than 7 days. usage_hourly_floor.hour is the first hour that is complete
-- here (PruneUsage raises it before it deletes): UsageSummary reads whole
-- hours at or after it from usage_hourly for a period's partial edge days,
-- and usage_records only for partial hours (or hours before the floor).
CREATE TABLE usage_hourly (
    hour              TEXT NOT NULL,
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
    PRIMARY KEY (hour, user_id, key_id, end_user_id, model, served_model, status)
);
CREATE INDEX usage_hourly_user ON usage_hourly (user_id, hour);
CREATE TABLE usage_hourly_floor (
    hour TEXT NOT NULL
);
INSERT INTO usage_hourly_floor (hour) VALUES (strftime('%Y-%m-%d %H', 'now', '-7 days'));
INSERT INTO usage_hourly
SELECT substr(created_at, 1, 13), user_id, key_id, end_user_id, model, served_model, status,
       COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost)
FROM usage_records
WHERE created_at >= (SELECT hour || ':00:00' FROM usage_hourly_floor)
GROUP BY substr(created_at, 1, 13), user_id, key_id, end_user_id, model, served_model, status;

-- Every usage query that filters by key filters by the key's user too
-- (an API key sees its own usage: user and key), so the key indexes add
-- nothing to the user ones and cost every insert a write at a random
-- place (issue 23: insert cost growing with the table). Raw rows are read
-- for a period's partial edges only, each within a UTC day (two at most):
-- one user's come from (day, user_id, created_at), whose new entries all
-- go to today's part of the index, instead of (user_id, created_at),
-- whose entries went all over it.
DROP INDEX usage_records_key;
DROP INDEX usage_daily_key;
DROP INDEX usage_records_user;
CREATE INDEX usage_records_day_user ON usage_records (substr(created_at, 1, 10), user_id, created_at);

-- +goose Down
DROP INDEX usage_records_day_user;
CREATE INDEX usage_records_user ON usage_records (user_id, created_at);
CREATE INDEX usage_daily_key ON usage_daily (key_id, day);
CREATE INDEX usage_records_key ON usage_records (key_id, created_at);
DROP TABLE usage_hourly_floor;
DROP TABLE usage_hourly;

-- +goose Up
CREATE TABLE usage_records (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at        DATETIME NOT NULL,
    request_id        TEXT NOT NULL DEFAULT '',
    user_id           TEXT NOT NULL DEFAULT '',
    key_id            TEXT NOT NULL DEFAULT '',
    end_user_id       TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL,
    served_model      TEXT NOT NULL DEFAULT '',
    provider          TEXT NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    ttft_ms           INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL,
    http_status       INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX usage_records_created_at ON usage_records (created_at);
CREATE INDEX usage_records_user ON usage_records (user_id, created_at);
CREATE INDEX usage_records_key ON usage_records (key_id, created_at);

-- +goose Down
DROP TABLE usage_records;

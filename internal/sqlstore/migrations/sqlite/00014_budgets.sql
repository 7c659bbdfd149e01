-- +goose Up
ALTER TABLE usage_records ADD COLUMN cost BIGINT NOT NULL DEFAULT 0;

ALTER TABLE api_keys ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN max_parallel INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN max_parallel INTEGER NOT NULL DEFAULT 0;

CREATE TABLE budgets (
    id            TEXT PRIMARY KEY,
    subject_type  TEXT NOT NULL CHECK (subject_type IN ('key', 'user', 'end_user', 'role')),
    subject       TEXT NOT NULL,
    period        TEXT NOT NULL CHECK (period IN ('day', 'week', 'month', 'total')),
    max_tokens    BIGINT,
    max_cost      BIGINT,
    alert_percent INTEGER NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
    UNIQUE (subject_type, subject, period)
);

-- One row per budget and period: settled totals (used_*) and open
-- reservations (reserved_*). Admission is one guarded UPDATE per budget.
CREATE TABLE budget_counters (
    budget_id       TEXT NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start    DATETIME NOT NULL,
    used_tokens     BIGINT NOT NULL DEFAULT 0,
    used_cost       BIGINT NOT NULL DEFAULT 0,
    reserved_tokens BIGINT NOT NULL DEFAULT 0,
    reserved_cost   BIGINT NOT NULL DEFAULT 0,
    alerted         BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (budget_id, period_start)
);

CREATE TABLE budget_reservations (
    id           TEXT NOT NULL,
    budget_id    TEXT NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start DATETIME NOT NULL,
    tokens       BIGINT NOT NULL,
    cost         BIGINT NOT NULL,
    expires_at   DATETIME NOT NULL,
    PRIMARY KEY (id, budget_id)
);
CREATE INDEX budget_reservations_expires ON budget_reservations (expires_at);

-- +goose Down
DROP TABLE budget_reservations;
DROP TABLE budget_counters;
DROP TABLE budgets;
ALTER TABLE users DROP COLUMN max_parallel;
ALTER TABLE users DROP COLUMN allowed_models;
ALTER TABLE api_keys DROP COLUMN max_parallel;
ALTER TABLE api_keys DROP COLUMN allowed_models;
ALTER TABLE usage_records DROP COLUMN cost;

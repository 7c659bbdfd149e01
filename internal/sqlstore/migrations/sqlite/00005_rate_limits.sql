-- +goose Up
CREATE TABLE rate_limit_policies (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    requests_per_minute INTEGER NOT NULL CHECK (requests_per_minute > 0),
    burst               INTEGER NOT NULL CHECK (burst > 0),
    tokens_per_minute   INTEGER NOT NULL DEFAULT 0 CHECK (tokens_per_minute >= 0),
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL
);

CREATE TABLE rate_limit_assignments (
    id           TEXT PRIMARY KEY,
    policy_id    TEXT NOT NULL REFERENCES rate_limit_policies (id) ON DELETE CASCADE,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('key', 'user', 'role', 'route')),
    subject      TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    UNIQUE (subject_type, subject)
);

CREATE INDEX rate_limit_assignments_policy ON rate_limit_assignments (policy_id);

-- +goose Down
DROP TABLE rate_limit_assignments;
DROP TABLE rate_limit_policies;

-- +goose Up
CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL,
    email_key          TEXT NOT NULL UNIQUE,
    display_name       TEXT NOT NULL DEFAULT '',
    role               TEXT NOT NULL CHECK (role IN ('viewer', 'contributor', 'admin')),
    active             INTEGER NOT NULL DEFAULT 1,
    password_hash      TEXT NOT NULL DEFAULT '',
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL,
    last_login_at      DATETIME,
    tokens_valid_after DATETIME
);

CREATE INDEX users_updated_at ON users (updated_at);

-- +goose Down
DROP TABLE users;

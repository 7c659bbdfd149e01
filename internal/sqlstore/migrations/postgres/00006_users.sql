-- +goose Up
CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL,
    email_key          TEXT NOT NULL UNIQUE,
    display_name       TEXT NOT NULL DEFAULT '',
    role               TEXT NOT NULL CHECK (role IN ('viewer', 'contributor', 'admin')),
    active             BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash      TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    last_login_at      TIMESTAMPTZ,
    tokens_valid_after TIMESTAMPTZ
);

CREATE INDEX users_updated_at ON users (updated_at);

-- +goose Down
DROP TABLE users;

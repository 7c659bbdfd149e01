-- +goose Up
CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    prefix           TEXT NOT NULL,
    owner_id         TEXT NOT NULL REFERENCES users (id),
    role             TEXT NOT NULL CHECK (role IN ('viewer', 'contributor', 'admin')),
    end_user_mode    INTEGER NOT NULL DEFAULT 0,
    key_hash         TEXT NOT NULL UNIQUE,
    prev_hash        TEXT UNIQUE,
    prev_valid_until DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    expires_at       DATETIME,
    last_used_at     DATETIME,
    revoked_at       DATETIME
);

CREATE INDEX api_keys_owner ON api_keys (owner_id, id);
CREATE INDEX api_keys_updated_at ON api_keys (updated_at);

-- +goose Down
DROP TABLE api_keys;

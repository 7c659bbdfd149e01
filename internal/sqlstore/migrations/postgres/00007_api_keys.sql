-- +goose Up
CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    prefix           TEXT NOT NULL,
    owner_id         TEXT NOT NULL REFERENCES users (id),
    role             TEXT NOT NULL CHECK (role IN ('viewer', 'contributor', 'admin')),
    end_user_mode    BOOLEAN NOT NULL DEFAULT FALSE,
    key_hash         TEXT NOT NULL UNIQUE,
    prev_hash        TEXT UNIQUE,
    prev_valid_until TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ,
    last_used_at     TIMESTAMPTZ,
    revoked_at       TIMESTAMPTZ
);

CREATE INDEX api_keys_owner ON api_keys (owner_id, id);
CREATE INDEX api_keys_updated_at ON api_keys (updated_at);

-- +goose Down
DROP TABLE api_keys;

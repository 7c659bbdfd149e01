-- +goose Up
-- An external sign-in identity (OAuth / OpenID Connect) linked to a user:
-- (provider, subject) is the provider's immutable account id, never the
-- email. provider is the configured [[auth.oauth]] name.
CREATE TABLE user_identities (
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    email         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ,
    PRIMARY KEY (provider, subject)
);

CREATE INDEX user_identities_user ON user_identities (user_id);

-- +goose Down
DROP TABLE user_identities;

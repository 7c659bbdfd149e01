-- +goose Up
CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    end_user_id      TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL DEFAULT '',
    model            TEXT NOT NULL DEFAULT '',
    system_prompt    TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    last_activity_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_owner_activity ON conversations (user_id, end_user_id, last_activity_at, id);

-- messages carry their conversation's owner so every query filters on it
-- directly; seq orders them. tsv is the full-text index ('simple': no
-- stemming, like SQLite's unicode61 tokenizer).
CREATE TABLE messages (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    conversation_id   TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL,
    end_user_id       TEXT NOT NULL DEFAULT '',
    parent_id         TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL,
    content           TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL,
    edited_at         TIMESTAMPTZ,
    deleted_at        TIMESTAMPTZ,
    tsv               tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED
);
CREATE INDEX messages_conversation ON messages (conversation_id, seq);
CREATE INDEX messages_owner ON messages (user_id, end_user_id);
CREATE INDEX messages_pending ON messages (created_at) WHERE status = 'pending';
CREATE INDEX messages_tsv ON messages USING GIN (tsv);

-- +goose Down
DROP TABLE messages;
DROP TABLE conversations;

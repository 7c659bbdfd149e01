-- +goose Up
-- Participants of user-owned conversations (SPEC 7.2). The owner is not a
-- participant; end users' conversations have none.
CREATE TABLE conversation_participants (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_participants_user ON conversation_participants (user_id);

-- author_id is the user who posted a user message ('' for assistant
-- messages and messages from before sharing); writers edit their own.
ALTER TABLE messages ADD COLUMN author_id TEXT NOT NULL DEFAULT '';

-- Invites to a conversation: the token is shown once and only its SHA-256
-- is kept. max_uses 0 means unlimited.
CREATE TABLE conversation_invites (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    max_uses        INTEGER NOT NULL DEFAULT 0,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversation_invites_conversation ON conversation_invites (conversation_id);

-- Share links: at most one per conversation, by the SHA-256 of its token.
CREATE TABLE conversation_shares (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL
);

-- Read markers: per reader (user, or app owner and end user) the seq of
-- the last message read.
CREATE TABLE conversation_reads (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    end_user_id     TEXT NOT NULL DEFAULT '',
    last_read_seq   BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, user_id, end_user_id)
);

-- +goose Down
DROP TABLE conversation_reads;
DROP TABLE conversation_shares;
DROP TABLE conversation_invites;
ALTER TABLE messages DROP COLUMN author_id;
DROP TABLE conversation_participants;

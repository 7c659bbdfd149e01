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

-- +goose Down
ALTER TABLE messages DROP COLUMN author_id;
DROP TABLE conversation_participants;

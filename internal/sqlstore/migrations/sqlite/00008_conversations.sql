-- +goose Up
CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    end_user_id      TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL DEFAULT '',
    model            TEXT NOT NULL DEFAULT '',
    system_prompt    TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    last_activity_at DATETIME NOT NULL
);
CREATE INDEX conversations_owner_activity ON conversations (user_id, end_user_id, last_activity_at, id);

-- messages carry their conversation's owner so every query filters on it
-- directly; seq orders them and is the FTS rowid.
CREATE TABLE messages (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    conversation_id   TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL,
    end_user_id       TEXT NOT NULL DEFAULT '',
    parent_id         TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL,
    content           TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created_at        DATETIME NOT NULL,
    edited_at         DATETIME,
    deleted_at        DATETIME
);
CREATE INDEX messages_conversation ON messages (conversation_id, seq);
CREATE INDEX messages_owner ON messages (user_id, end_user_id);
CREATE INDEX messages_pending ON messages (created_at) WHERE status = 'pending';

CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages', content_rowid = 'seq', tokenize = 'unicode61');

-- +goose StatementBegin
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE messages_fts;
DROP TABLE messages;
DROP TABLE conversations;

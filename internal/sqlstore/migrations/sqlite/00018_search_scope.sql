-- +goose Up
-- Search is scoped in the index (issue 23): besides the content, every
-- message is indexed with access tokens, one column of its own:
--   o<hex user_id>x<hex end_user_id>  its owner
--   c<hex conversation_id>            its conversation (participants)
--   t<hex user_id>                    the app's tenant (end users' messages)
-- A query ANDs the caller's tokens with the words, so FTS5 intersects the
-- caller's postings with the words' instead of joining every match in the
-- database. Tokens never change: a message's owner and conversation are
-- fixed, and a participant's query names the conversations it may read.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIEW messages_fts_source AS
    SELECT seq, content,
        'o' || hex(user_id) || 'x' || hex(end_user_id) || ' c' || hex(conversation_id) ||
        CASE WHEN end_user_id <> '' THEN ' t' || hex(user_id) ELSE '' END AS access
    FROM messages;

CREATE VIRTUAL TABLE messages_fts USING fts5 (content, access, content = 'messages_fts_source', content_rowid = 'seq', tokenize = 'unicode61');
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content, access)
        SELECT seq, content, access FROM messages_fts_source WHERE seq = new.seq;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, access) VALUES ('delete', old.seq, old.content,
        'o' || hex(old.user_id) || 'x' || hex(old.end_user_id) || ' c' || hex(old.conversation_id) ||
        CASE WHEN old.end_user_id <> '' THEN ' t' || hex(old.user_id) ELSE '' END);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, access) VALUES ('delete', old.seq, old.content,
        'o' || hex(old.user_id) || 'x' || hex(old.end_user_id) || ' c' || hex(old.conversation_id) ||
        CASE WHEN old.end_user_id <> '' THEN ' t' || hex(old.user_id) ELSE '' END);
    INSERT INTO messages_fts (rowid, content, access)
        SELECT seq, content, access FROM messages_fts_source WHERE seq = new.seq;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
DROP VIEW messages_fts_source;
CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages', content_rowid = 'seq', tokenize = 'unicode61');
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
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

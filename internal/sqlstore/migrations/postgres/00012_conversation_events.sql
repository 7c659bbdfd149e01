-- +goose Up
-- Live conversation events (SPEC 7.1). last_event_seq is the
-- conversation's counter: AppendEvent bumps it and inserts the event in
-- one transaction, so every instance sees the same ids. Events go with
-- their conversation.
ALTER TABLE conversations ADD COLUMN last_event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE conversation_events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    type            TEXT NOT NULL,
    data            BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX conversation_events_created ON conversation_events (created_at);

-- +goose Down
DROP TABLE conversation_events;
ALTER TABLE conversations DROP COLUMN last_event_seq;

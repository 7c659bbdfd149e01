-- +goose Up
-- One row per running instance: its lease. An instance writes
-- heartbeat_at every database.heartbeat_interval; a pending assistant
-- message whose instance's lease expired (database.lease_timeout) is
-- swept to incomplete by any instance, keeping its checkpointed text.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);
-- instance_id: the instance generating a pending assistant message
-- ('' for messages written before this migration).
ALTER TABLE messages ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_pending_instance ON messages (instance_id) WHERE status = 'pending';

-- +goose Down
DROP INDEX messages_pending_instance;
ALTER TABLE messages DROP COLUMN instance_id;
DROP TABLE instances;

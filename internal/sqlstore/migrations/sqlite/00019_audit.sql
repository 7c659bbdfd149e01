-- +goose Up
-- The audit log (SPEC 8.1): append-only, hash-chained. seq is assigned
-- by the appender under a lock (contiguous), hash = SHA-256(prev_hash ||
-- canonical record).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    at          DATETIME NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '{}',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- One row: the chain's anchor (the last pruned record) and head (the last
-- appended one), so pruning and deleting the newest record stay detectable.
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    anchor_seq  INTEGER NOT NULL,
    anchor_hash TEXT NOT NULL,
    head_seq    INTEGER NOT NULL,
    head_hash   TEXT NOT NULL
);
INSERT INTO audit_chain (id, anchor_seq, anchor_hash, head_seq, head_hash) VALUES (1, 0, '', 0, '');

-- +goose Down
DROP TABLE audit_chain;
DROP TABLE audit_log;

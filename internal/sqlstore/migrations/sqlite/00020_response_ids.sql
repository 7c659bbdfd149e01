-- +goose Up
-- The creator of each Responses API id answered through the gateway
-- (POST /v1/responses): GET/DELETE /v1/responses/{id} and
-- previous_response_id answer only for the same user (or static token)
-- and end user, on every instance. model is the configured model whose
-- provider holds the response. Rows older than 30 days are pruned.
CREATE TABLE response_ids (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    end_user_id TEXT NOT NULL DEFAULT '',
    model       TEXT NOT NULL,
    created_at  DATETIME NOT NULL
);
CREATE INDEX response_ids_created ON response_ids (created_at);

-- +goose Down
DROP TABLE response_ids;

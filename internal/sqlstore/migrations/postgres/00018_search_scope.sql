-- +goose Up
-- Search is scoped in the index (issue 23): access_tsv holds the content's
-- lexemes plus access lexemes that no text can produce (they contain a
-- space):
--   'o <md5(user_id, end_user_id)>'  the message's owner
--   'c <md5(conversation_id)>'       its conversation (participants)
--   't <md5(user_id)>'               the app's tenant (end users' messages)
-- A query matches (words && caller's access lexemes) against one GIN index,
-- which intersects the posting lists, so a small user's search costs what
-- its own messages cost, with any plan (custom or generic). Ranking stays
-- ts_rank over tsv, unchanged; tsv's own GIN index is no longer used.
DROP INDEX messages_tsv;
ALTER TABLE messages ADD COLUMN access_tsv tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', content) || array_to_tsvector(array_remove(ARRAY[
        'o ' || md5(user_id || chr(1) || end_user_id),
        'c ' || md5(conversation_id),
        CASE WHEN end_user_id <> '' THEN 't ' || md5(user_id) END], NULL))) STORED;
CREATE INDEX messages_access_tsv ON messages USING GIN (access_tsv);

-- +goose Down
DROP INDEX messages_access_tsv;
ALTER TABLE messages DROP COLUMN access_tsv;
CREATE INDEX messages_tsv ON messages USING GIN (tsv);

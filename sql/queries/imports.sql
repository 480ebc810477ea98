-- Queries of the import from another system's table (the seed's export_logs).
-- {table} and {events} are identifiers filled in with psycopg.sql.Identifier;
-- every value is a query parameter.

-- name: source_columns
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped;

-- name: table_exists
SELECT to_regclass(%s) IS NOT NULL;

-- name: count_rows
SELECT count(*) FROM {table};

-- name: source_rows
-- Read as the seed's columns hold them; ids and texts as text, counts as bigint.
SELECT id::text, export_id::text, user_id::text, "timestamp", format::text, config::jsonb,
    conversation_count::bigint, file_size::bigint, status::text, file_url::text,
    expires_at, error_message::text, created_at, updated_at
FROM {table};

-- name: stored_events_of
SELECT originator_id, originator_version, topic, state
FROM {events}
WHERE originator_id = ANY(%s::uuid[])
ORDER BY originator_id, originator_version;

-- name: copy_events
COPY {events} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY);

-- Queries of the import from another system's table (the seed's export_logs).
-- {table} and {events} are identifiers filled in with psycopg.sql.Identifier;
-- every value is a query parameter.

-- name: source_columns
-- The columns of the source table and their types, to check it has the seed's.
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%(table)s) AND a.attnum > 0 AND NOT a.attisdropped;

-- name: table_exists
-- Whether the source database has the table named (schema-qualified or not).
SELECT to_regclass(%(table)s) IS NOT NULL;

-- name: count_rows
-- How many rows the import will read: the progress bar's total.
SELECT count(*) FROM {table};

-- name: source_rows
-- Read as the seed's columns hold them; ids and texts as text, counts as bigint.
SELECT id::text, export_id::text, user_id::text, "timestamp", format::text, config::jsonb,
    conversation_count::bigint, file_size::bigint, status::text, file_url::text,
    expires_at, error_message::text, created_at, updated_at
FROM {table};

-- name: stored_events_of
-- The stored events of a batch's exports, in order, to plan what each row changes.
SELECT originator_id, originator_version, topic, state
FROM {events}
WHERE originator_id = ANY(%(ids)s::uuid[])
ORDER BY originator_id, originator_version;

-- name: copy_events
-- A batch's events into the event store in one COPY, under the events lock.
COPY {events} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY);

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

-- name: export_snapshot
-- The reader's snapshot, for the import's other readers to share (pg_dump -j does so).
SELECT pg_export_snapshot();

-- name: share_snapshot
-- The first statement of a reader that shares another's snapshot ({snapshot}: a literal).
SET TRANSACTION SNAPSHOT {snapshot};

-- name: count_rows
-- How many rows the import will read: the progress bar's total.
SELECT count(*) FROM {table};

-- name: source_rows
-- Read as the seed's columns hold them; ids and texts as text, counts as bigint.
SELECT id::text, export_id::text, user_id::text, "timestamp", format::text, config::jsonb,
    conversation_count::bigint, file_size::bigint, status::text, file_url::text,
    expires_at, error_message::text, created_at, updated_at
FROM {table};

-- name: source_part_rows
-- source_rows, of one part of %(n)s: the rows whose export_id hashes to %(k)s (a row
-- without one is read by the part of the empty text, and refused there).
SELECT id::text, export_id::text, user_id::text, "timestamp", format::text, config::jsonb,
    conversation_count::bigint, file_size::bigint, status::text, file_url::text,
    expires_at, error_message::text, created_at, updated_at
FROM {table}
WHERE mod(hashtext(coalesce(export_id::text, '')) & 2147483647, %(n)s) = %(k)s;

-- name: stored_events_of
-- The stored events of a batch's exports, in order, to plan what each row changes.
SELECT originator_id, originator_version, topic, state
FROM {events}
WHERE originator_id = ANY(%(ids)s::uuid[])
ORDER BY originator_id, originator_version;

-- name: copy_events
-- A batch's events into the event store in one COPY, under the events lock.
COPY {events} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY);

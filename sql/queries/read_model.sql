-- Queries of the projection (projections/readmodel/store.py): tracking positions (of the
-- read tables, and the sealer's 'ledger_seal'), the events after them, and the
-- rows and versions they fold into. {table} is a read table or its history,
-- {events} the stored-events table, both filled in with psycopg.sql.Identifier;
-- every value is a named parameter.

-- name: lock_tracking
-- Lock a tracking row for this transaction and read its position: one batch
-- at a time per table (a follower's, or the rebuild's swap) and for the sealer.
SELECT position FROM read_model_tracking WHERE table_name = %(table)s FOR UPDATE;

-- name: tracking_position
-- The log position a table includes (no row: the table is not tracked).
SELECT position FROM read_model_tracking WHERE table_name = %(table)s;

-- name: set_tracking
-- Move a tracking position, in the transaction that wrote what it covers.
UPDATE read_model_tracking SET position = %(position)s, updated_at = now()
WHERE table_name = %(table)s;

-- name: start_tracking
-- Track a new table (a rebuilt shadow) from a position, or move it there.
INSERT INTO read_model_tracking (table_name, position) VALUES (%(table)s, %(position)s)
ON CONFLICT (table_name) DO UPDATE SET position = EXCLUDED.position, updated_at = now();

-- name: drop_tracking
-- Forget a table's tracking row (a dropped shadow's).
DELETE FROM read_model_tracking WHERE table_name = %(table)s;

-- name: head_position
-- The log position of the last stored event (0 for an empty log).
SELECT coalesce(max(notification_id), 0) AS head FROM {events};

-- name: events_after
-- The next batch of stored events after a position, up to a bound, in log order.
SELECT notification_id, originator_id, originator_version, topic, state
FROM {events}
WHERE notification_id > %(after)s AND notification_id <= %(upto)s
ORDER BY notification_id
LIMIT %(limit)s;

-- name: events_by_aggregate
-- Every stored event up to a position, grouped by aggregate in version order
-- (what the rebuild folds export by export).
SELECT notification_id, originator_id, originator_version, topic, state
FROM {events}
WHERE notification_id <= %(upto)s
ORDER BY originator_id, originator_version;

-- name: rows_by_id
-- The rows of the exports a batch touches, to fold its changes into.
SELECT * FROM {table} WHERE id = ANY(%(ids)s);

-- name: upsert_rows
-- Write folded rows, one array per column (projections.fold.COLUMNS).
INSERT INTO {table} AS t (id, export_id, user_id, "timestamp", format, config,
    conversation_count, file_size, status, file_url, expires_at, error_message, created_at,
    updated_at, version, position)
SELECT * FROM unnest(
    %(id)s::uuid[], %(export_id)s::text[], %(user_id)s::text[], %(timestamp)s::timestamptz[],
    %(format)s::text[], %(config)s::jsonb[], %(conversation_count)s::integer[],
    %(file_size)s::bigint[], %(status)s::text[], %(file_url)s::text[],
    %(expires_at)s::timestamptz[], %(error_message)s::text[], %(created_at)s::timestamptz[],
    %(updated_at)s::timestamptz[], %(version)s::bigint[], %(position)s::bigint[])
ON CONFLICT (id) DO UPDATE SET
    export_id = EXCLUDED.export_id, user_id = EXCLUDED.user_id,
    "timestamp" = EXCLUDED."timestamp", format = EXCLUDED.format, config = EXCLUDED.config,
    conversation_count = EXCLUDED.conversation_count, file_size = EXCLUDED.file_size,
    status = EXCLUDED.status, file_url = EXCLUDED.file_url, expires_at = EXCLUDED.expires_at,
    error_message = EXCLUDED.error_message, created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at, version = EXCLUDED.version, position = EXCLUDED.position;

-- name: delete_rows
-- Remove the rows of exports that left the table (deleted).
DELETE FROM {table} WHERE id = ANY(%(ids)s);

-- name: copy_rows
-- Bulk-load rows, their columns in the order of projections.fold.COLUMNS.
COPY {table} (id, export_id, user_id, "timestamp", format, config, conversation_count,
    file_size, status, file_url, expires_at, error_message, created_at, updated_at,
    version, position) FROM STDIN;

-- name: close_versions
-- An export's open version ends at its next change (valid_to is NULL only on
-- the open one; a new export has none).
UPDATE {table} AS v
SET valid_to = c.position, valid_to_time = c.at
FROM unnest(%(ids)s::uuid[], %(positions)s::bigint[], %(times)s::timestamptz[])
    AS c (id, position, at)
WHERE v.id = c.id AND v.valid_to IS NULL;

-- name: close_few_versions
-- close_versions for a few exports (the live follower's batches): the id = ANY
-- condition lets the primary key find their rows, where the join alone had the
-- planner scan the whole table on every batch.
UPDATE {table} AS v
SET valid_to = c.position, valid_to_time = c.at
FROM unnest(%(ids)s::uuid[], %(positions)s::bigint[], %(times)s::timestamptz[])
    AS c (id, position, at)
WHERE v.id = ANY(%(ids)s::uuid[]) AND v.id = c.id AND v.valid_to IS NULL;

-- name: insert_versions
-- Record new versions, one array per column (projections.fold.VERSION_COLUMNS).
INSERT INTO {table} (id, export_id, user_id, "timestamp", format, config,
    conversation_count, file_size, status, file_url, expires_at, error_message, created_at,
    updated_at, version, position, valid_from, valid_from_time, valid_to, valid_to_time)
SELECT * FROM unnest(
    %(id)s::uuid[], %(export_id)s::text[], %(user_id)s::text[], %(timestamp)s::timestamptz[],
    %(format)s::text[], %(config)s::jsonb[], %(conversation_count)s::integer[],
    %(file_size)s::bigint[], %(status)s::text[], %(file_url)s::text[],
    %(expires_at)s::timestamptz[], %(error_message)s::text[], %(created_at)s::timestamptz[],
    %(updated_at)s::timestamptz[], %(version)s::bigint[], %(position)s::bigint[],
    %(valid_from)s::bigint[], %(valid_from_time)s::timestamptz[], %(valid_to)s::bigint[],
    %(valid_to_time)s::timestamptz[]);

-- name: copy_versions
-- Bulk-load versions, their columns in the order of projections.fold.VERSION_COLUMNS.
COPY {table} (id, export_id, user_id, "timestamp", format, config, conversation_count,
    file_size, status, file_url, expires_at, error_message, created_at, updated_at,
    version, position, valid_from, valid_from_time, valid_to, valid_to_time) FROM STDIN;

-- name: due_exports
-- Completed exports whose expiry has passed, a page at a time in export_id order.
SELECT export_id FROM export_logs
WHERE status = 'completed' AND expires_at <= %(now)s AND export_id > %(after)s
ORDER BY export_id
LIMIT %(limit)s;

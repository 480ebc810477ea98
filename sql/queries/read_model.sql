-- Queries of the projection. {table} and {events} are identifiers filled in
-- with psycopg.sql.Identifier; every value is a query parameter.

-- name: lock_tracking
SELECT position FROM read_model_tracking WHERE table_name = %s FOR UPDATE;

-- name: tracking_position
SELECT position FROM read_model_tracking WHERE table_name = %s;

-- name: set_tracking
UPDATE read_model_tracking SET position = %s, updated_at = now() WHERE table_name = %s;

-- name: start_tracking
INSERT INTO read_model_tracking (table_name, position) VALUES (%s, %s)
ON CONFLICT (table_name) DO UPDATE SET position = EXCLUDED.position, updated_at = now();

-- name: drop_tracking
DELETE FROM read_model_tracking WHERE table_name = %s;

-- name: head_position
SELECT coalesce(max(notification_id), 0) AS head FROM {events};

-- name: events_after
SELECT notification_id, originator_id, originator_version, topic, state
FROM {events}
WHERE notification_id > %s AND notification_id <= %s
ORDER BY notification_id
LIMIT %s;

-- name: events_by_aggregate
SELECT notification_id, originator_id, originator_version, topic, state
FROM {events}
WHERE notification_id <= %s
ORDER BY originator_id, originator_version;

-- name: rows_by_id
SELECT * FROM {table} WHERE id = ANY(%s);

-- name: upsert_rows
INSERT INTO {table} AS t
SELECT * FROM unnest(
    %s::uuid[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::jsonb[],
    %s::integer[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],
    %s::timestamptz[], %s::timestamptz[], %s::bigint[], %s::bigint[])
ON CONFLICT (id) DO UPDATE SET
    export_id = EXCLUDED.export_id, user_id = EXCLUDED.user_id,
    "timestamp" = EXCLUDED."timestamp", format = EXCLUDED.format, config = EXCLUDED.config,
    conversation_count = EXCLUDED.conversation_count, file_size = EXCLUDED.file_size,
    status = EXCLUDED.status, file_url = EXCLUDED.file_url, expires_at = EXCLUDED.expires_at,
    error_message = EXCLUDED.error_message, created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at, version = EXCLUDED.version, position = EXCLUDED.position;

-- name: delete_rows
DELETE FROM {table} WHERE id = ANY(%s);

-- name: copy_rows
COPY {table} (id, export_id, user_id, "timestamp", format, config, conversation_count,
    file_size, status, file_url, expires_at, error_message, created_at, updated_at,
    version, position) FROM STDIN;

-- name: close_versions
-- An export's open version ends at its next change (valid_to is NULL only on
-- the open one; a new export has none).
UPDATE {table} AS v
SET valid_to = c.position, valid_to_time = c.at
FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[]) AS c (id, position, at)
WHERE v.id = c.id AND v.valid_to IS NULL;

-- name: insert_versions
INSERT INTO {table}
SELECT * FROM unnest(
    %s::uuid[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::jsonb[],
    %s::integer[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],
    %s::timestamptz[], %s::timestamptz[], %s::bigint[], %s::bigint[],
    %s::bigint[], %s::timestamptz[], %s::bigint[], %s::timestamptz[]);

-- name: copy_versions
COPY {table} (id, export_id, user_id, "timestamp", format, config, conversation_count,
    file_size, status, file_url, expires_at, error_message, created_at, updated_at,
    version, position, valid_from, valid_from_time, valid_to, valid_to_time) FROM STDIN;

-- name: rows_from_versions
-- The read table is the open versions (a bulk-loaded shadow is filled so).
INSERT INTO {table}
SELECT id, export_id, user_id, "timestamp", format, config, conversation_count, file_size,
       status, file_url, expires_at, error_message, created_at, updated_at, version, position
FROM {versions}
WHERE valid_to IS NULL;

-- name: create_versions_table
SELECT export_ledger_create_versions_table(%s);

-- name: index_versions_table
SELECT export_ledger_index_versions_table(%s);

-- name: swap_versions_table
SELECT export_ledger_swap_versions_table(%s, %s);

-- name: version_differences
-- How many versions one history table has that the other lacks or holds otherwise.
SELECT count(*) FILTER (WHERE s.id IS NULL) AS extra,
       count(*) FILTER (WHERE l.id IS NULL) AS missing,
       count(*) FILTER (WHERE l.id IS NOT NULL AND s.id IS NOT NULL) AS different
FROM {table} AS l FULL JOIN {shadow} AS s ON s.id = l.id AND s.version = l.version
WHERE l.id IS NULL OR s.id IS NULL OR ROW(l.*) IS DISTINCT FROM ROW(s.*);

-- name: open_version_differences
-- How many open versions of a history differ from a read table's rows (each
-- open version is its export's row, valid from the row's position and time).
SELECT count(*)
FROM (SELECT id, export_id, user_id, "timestamp", format, config, conversation_count,
             file_size, status, file_url, expires_at, error_message, created_at,
             updated_at, version, position, valid_from, valid_from_time
      FROM {versions} WHERE valid_to IS NULL) AS v
FULL JOIN {shadow} AS s ON s.id = v.id
WHERE v.id IS NULL OR s.id IS NULL
   OR ROW(v.id, v.export_id, v.user_id, v."timestamp", v.format, v.config,
          v.conversation_count, v.file_size, v.status, v.file_url, v.expires_at,
          v.error_message, v.created_at, v.updated_at, v.version, v.position)
      IS DISTINCT FROM ROW(s.*)
   OR v.valid_from IS DISTINCT FROM s.position
   OR v.valid_from_time IS DISTINCT FROM s.updated_at;

-- name: notify_projected
SELECT pg_notify('export_logs_projected', %s);

-- name: create_read_table
SELECT export_ledger_create_read_table(%s);

-- name: index_read_table
SELECT export_ledger_index_read_table(%s);

-- name: swap_read_table
SELECT export_ledger_swap_read_table(%s, %s);

-- name: shadow_tables
SELECT tablename FROM pg_tables
WHERE schemaname = current_schema() AND tablename LIKE 'export\_logs\_rebuild\_%';

-- name: drop_table
DROP TABLE IF EXISTS {table};

-- name: lock_shared
LOCK TABLE {table} IN SHARE MODE;

-- name: differences
SELECT coalesce(l.id, s.id) AS id,
       CASE WHEN s.id IS NULL THEN 'extra'
            WHEN l.id IS NULL THEN 'missing'
            ELSE 'different' END AS kind
FROM {table} AS l FULL JOIN {shadow} AS s ON s.id = l.id
WHERE l.id IS NULL OR s.id IS NULL OR ROW(l.*) IS DISTINCT FROM ROW(s.*);

-- name: row_pairs
SELECT coalesce(l.export_id, s.export_id) AS export_id, to_jsonb(l) AS live_row,
       to_jsonb(s) AS expected_row
FROM {table} AS l FULL JOIN {shadow} AS s ON s.id = l.id
WHERE coalesce(l.id, s.id) = ANY(%s)
ORDER BY 1;

-- name: due_exports
SELECT export_id FROM export_logs
WHERE status = 'completed' AND expires_at <= %s AND export_id > %s
ORDER BY export_id
LIMIT %s;

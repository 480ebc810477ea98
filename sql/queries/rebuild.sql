-- Queries of the rebuild (projections/readmodel/rebuild.py, drift.py, history.py): shadow
-- copies of the read table and its history, how they differ from the live
-- ones, and the swap. {table}, {shadow} and {versions} are identifiers filled
-- in with psycopg.sql.Identifier; every value is a named parameter.

-- name: take_rebuild_lock
-- Take the session-level lock that lets one rebuild run at a time, if free.
SELECT pg_try_advisory_lock(%(key)s);

-- name: release_rebuild_lock
-- Release the rebuild lock now rather than when the server ends the session.
SELECT pg_advisory_unlock(%(key)s);

-- name: table_exists
-- Whether a table of this name exists (in the search path).
SELECT to_regclass(%(table)s) IS NOT NULL;

-- name: shadow_tables
-- The tables whose names match a LIKE pattern (the shadows killed rebuilds left).
SELECT tablename FROM pg_tables
WHERE schemaname = current_schema() AND tablename LIKE %(pattern)s;

-- name: create_read_table
-- A new empty table like export_logs (columns, row-level security, grants).
SELECT export_ledger_create_read_table(%(table)s);

-- name: pause_row_security
-- Row-level security off on a new shadow table, so the projector's login may COPY
-- into it (PostgreSQL refuses COPY FROM under row-level security); back on after.
ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;

-- name: resume_row_security
-- Row-level security back on a shadow table after its bulk load, before any index or swap.
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;

-- name: index_read_table
-- export_logs' indexes on a table made by create_read_table, after its bulk load.
SELECT export_ledger_index_read_table(%(table)s);

-- name: create_versions_table
-- A new empty table like export_log_versions.
SELECT export_ledger_create_versions_table(%(table)s);

-- name: index_versions_table
-- export_log_versions' indexes on a table made by create_versions_table.
SELECT export_ledger_index_versions_table(%(table)s);

-- name: rows_from_versions
-- Fill a read table with the open versions of a history (a bulk-loaded shadow).
INSERT INTO {table}
SELECT id, export_id, user_id, "timestamp", format, config, conversation_count, file_size,
       status, file_url, expires_at, error_message, created_at, updated_at, version, position
FROM {versions}
WHERE valid_to IS NULL;

-- name: drop_table
-- Drop a shadow or snapshot table, if there is one.
DROP TABLE IF EXISTS {table};

-- name: swap_lock_timeout
-- How long the swap may wait for readers to let go of the live tables.
SET LOCAL lock_timeout = '30s';

-- name: swap_read_table
-- Put the shadow in the live table's place, with its tracking position.
SELECT export_ledger_swap_read_table(%(shadow)s, %(live)s);

-- name: swap_versions_table
-- Put the shadow history in the live history's place.
SELECT export_ledger_swap_versions_table(%(shadow)s, %(live)s);

-- name: differences
-- The rows the live table lacks, has extra, or holds otherwise than the shadow.
SELECT coalesce(l.id, s.id) AS id,
       CASE WHEN s.id IS NULL THEN 'extra'
            WHEN l.id IS NULL THEN 'missing'
            ELSE 'different' END AS kind
FROM {table} AS l FULL JOIN {shadow} AS s ON s.id = l.id
WHERE l.id IS NULL OR s.id IS NULL OR ROW(l.*) IS DISTINCT FROM ROW(s.*);

-- name: row_pairs
-- The live and the shadow row (as JSON) of some exports, to show how they differ.
SELECT coalesce(l.export_id, s.export_id) AS export_id, to_jsonb(l) AS live_row,
       to_jsonb(s) AS expected_row
FROM {table} AS l FULL JOIN {shadow} AS s ON s.id = l.id
WHERE coalesce(l.id, s.id) = ANY(%(ids)s)
ORDER BY 1;

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

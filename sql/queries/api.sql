-- Queries of the HTTP API. They run inside a transaction that has taken on
-- export_ledger_reader (row-level security: own rows only) or
-- export_ledger_admin, so isolation holds in the database. {role} is an
-- identifier filled in with psycopg.sql.Identifier; every value is a named
-- parameter.

-- name: set_role
-- Take on a read role for this transaction (a pooled connection of the ledger
-- routes, whose role is known here and not a parameter).
SET LOCAL ROLE {role};

-- name: set_session
-- Set this transaction's user (whose rows row-level security shows) and its
-- statement timeout (milliseconds; '0' for none).
SELECT set_config('export_ledger.user_id', %(user_id)s, true),
       set_config('statement_timeout', %(timeout)s, true);

-- name: start_session
-- SET LOCAL ROLE, as a function so the role can be a parameter; the database
-- checks the connecting user may take it on.
SELECT set_config('role', %(role)s, true),
       set_config('export_ledger.user_id', %(user_id)s, true),
       set_config('statement_timeout', %(timeout)s, true);

-- name: get_export
-- One export's row, by its export id.
SELECT id, export_id, user_id, "timestamp", format, config, conversation_count, file_size,
       status, file_url, expires_at, error_message, created_at, updated_at, version, position
FROM export_logs
WHERE export_id = %(export_id)s;

-- name: list_exports
-- A page of exports, newest first. A filter given as NULL is off; the planner
-- folds those away (the pool does not prepare statements, so each plan sees
-- the values). The keyset condition repeats its leading column on its own so
-- the index scan starts at the cursor even under row-level security.
SELECT id, export_id, user_id, "timestamp", format, config, conversation_count, file_size,
       status, file_url, expires_at, error_message, created_at, updated_at, version, position
FROM export_logs
WHERE (%(user_id)s::text IS NULL OR user_id = %(user_id)s::text)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(format)s::text IS NULL OR format = %(format)s::text)
  AND (%(date_from)s::timestamptz IS NULL OR "timestamp" >= %(date_from)s::timestamptz)
  AND (%(date_to)s::timestamptz IS NULL OR "timestamp" <= %(date_to)s::timestamptz)
  AND (%(on_hold)s::boolean IS NULL OR %(on_hold)s::boolean = EXISTS (
       SELECT 1 FROM export_holds AS h
       WHERE h.export_id = export_logs.export_id AND h.released_at IS NULL))
  AND (%(after_ts)s::timestamptz IS NULL OR "timestamp" <= %(after_ts)s::timestamptz)
  AND (%(after_ts)s::timestamptz IS NULL
       OR ("timestamp", export_id) < (%(after_ts)s::timestamptz, %(after_id)s::text))
ORDER BY "timestamp" DESC, export_id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_exports
-- Matching exports, counted up to %(count_cap)s and no further.
SELECT count(*) AS total
FROM (
    SELECT 1
    FROM export_logs
    WHERE (%(user_id)s::text IS NULL OR user_id = %(user_id)s::text)
      AND (%(status)s::text IS NULL OR status = %(status)s::text)
      AND (%(format)s::text IS NULL OR format = %(format)s::text)
      AND (%(date_from)s::timestamptz IS NULL OR "timestamp" >= %(date_from)s::timestamptz)
      AND (%(date_to)s::timestamptz IS NULL OR "timestamp" <= %(date_to)s::timestamptz)
      AND (%(on_hold)s::boolean IS NULL OR %(on_hold)s::boolean = EXISTS (
           SELECT 1 FROM export_holds AS h
           WHERE h.export_id = export_logs.export_id AND h.released_at IS NULL))
    LIMIT %(count_cap)s
) AS matching;

-- name: readiness
-- The position export_logs includes, and whether the migrations have run.
SELECT (SELECT position FROM read_model_tracking WHERE table_name = 'export_logs') AS position,
       to_regclass('export_logs') IS NOT NULL
       AND to_regprocedure('export_ledger_lock_events()') IS NOT NULL
       AND to_regprocedure('export_ledger_swap_read_table(text, text)') IS NOT NULL
       AS migrated;

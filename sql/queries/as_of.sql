-- The list of the HTTP API as of a past moment, read from export_log_versions
-- (see sql/migrations/0005_export_log_versions.sql): the version of each
-- export valid at %(as_of)s. The same filters, order and paging as the live
-- list in api.sql, and the same row-level security (the caller's transaction
-- has taken on export_ledger_reader or export_ledger_admin).

-- name: list_exports
-- An export's versions all carry its request time ("timestamp"), and none is
-- valid before it: the repeated bound lets the keyset index scan start at
-- the moment asked for instead of at the newest export.
SELECT id, export_id, user_id, "timestamp", format, config, conversation_count, file_size,
       status, file_url, expires_at, error_message, created_at, updated_at, version, position
FROM export_log_versions
WHERE valid_from_time <= %(as_of)s::timestamptz
  AND (valid_to_time IS NULL OR valid_to_time > %(as_of)s::timestamptz)
  AND "timestamp" <= %(as_of)s::timestamptz
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s::text)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(format)s::text IS NULL OR format = %(format)s::text)
  AND (%(date_from)s::timestamptz IS NULL OR "timestamp" >= %(date_from)s::timestamptz)
  AND (%(date_to)s::timestamptz IS NULL OR "timestamp" <= %(date_to)s::timestamptz)
  AND (%(after_ts)s::timestamptz IS NULL OR "timestamp" <= %(after_ts)s::timestamptz)
  AND (%(after_ts)s::timestamptz IS NULL
       OR ("timestamp", export_id) < (%(after_ts)s::timestamptz, %(after_id)s::text))
ORDER BY "timestamp" DESC, export_id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_exports
-- Matching exports as of the moment, counted up to %(count_cap)s and no further.
SELECT count(*) AS total
FROM (
    SELECT 1
    FROM export_log_versions
    WHERE valid_from_time <= %(as_of)s::timestamptz
      AND (valid_to_time IS NULL OR valid_to_time > %(as_of)s::timestamptz)
      AND "timestamp" <= %(as_of)s::timestamptz
      AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s::text)
      AND (%(status)s::text IS NULL OR status = %(status)s::text)
      AND (%(format)s::text IS NULL OR format = %(format)s::text)
      AND (%(date_from)s::timestamptz IS NULL OR "timestamp" >= %(date_from)s::timestamptz)
      AND (%(date_to)s::timestamptz IS NULL OR "timestamp" <= %(date_to)s::timestamptz)
    LIMIT %(count_cap)s
) AS matching;

-- Queries binding exported files to the ledger. {events} is the stored-events
-- table, filled in with psycopg.sql.Identifier.

-- name: download_mismatches
-- Every download that names a checksum other than its export's completed file's
-- (or that follows no completion at all), with the completion's position.
SELECT d.notification_id,
       c.notification_id,
       convert_from(d.state, 'UTF8')::jsonb ->> 'file_sha256',
       convert_from(c.state, 'UTF8')::jsonb ->> 'file_sha256'
FROM {events} AS d
LEFT JOIN LATERAL (
    SELECT e.notification_id, e.state
    FROM {events} AS e
    WHERE e.originator_id = d.originator_id
      AND e.originator_version < d.originator_version
      AND e.topic = %(completed)s
    ORDER BY e.originator_version DESC
    LIMIT 1
) AS c ON true
WHERE d.topic = %(downloaded)s
  AND convert_from(d.state, 'UTF8')::jsonb ->> 'file_sha256' IS NOT NULL
  AND (c.notification_id IS NULL
       OR convert_from(c.state, 'UTF8')::jsonb ->> 'file_sha256'
          IS DISTINCT FROM convert_from(d.state, 'UTF8')::jsonb ->> 'file_sha256')
ORDER BY d.notification_id;

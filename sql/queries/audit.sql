-- The compliance export: stored events in log order, with the export each belongs
-- to (the export_id of its aggregate's first event: an ExportLog's Requested or Imported, an
-- idempotency claim's Claimed). {events} is the stored-events table, filled in
-- with psycopg.sql.Identifier. A filter given as NULL is off.

-- name: audit_events
-- The stored events of a log range that pass the filters, with their export id
-- (json, not jsonb: ->> reads one key without building the whole binary document).
SELECT e.notification_id, uuid_send(e.originator_id), e.originator_version, e.topic, e.state,
       convert_from(f.state, 'UTF8')::json ->> 'export_id'
FROM {events} AS e
LEFT JOIN {events} AS f ON f.originator_id = e.originator_id AND f.originator_version = 1
WHERE e.notification_id BETWEEN %(start)s AND %(end)s
  AND (%(topic)s::text IS NULL OR e.topic = %(topic)s::text)
  AND (%(user_id)s::text IS NULL
       OR convert_from(f.state, 'UTF8')::json ->> 'subject' = %(subject)s::text
       OR convert_from(f.state, 'UTF8')::json ->> 'user_id' = %(user_id)s::text)
ORDER BY e.notification_id;

-- name: audit_count
-- How many stored events of a log range pass the filters.
SELECT count(*)
FROM {events} AS e
LEFT JOIN {events} AS f ON f.originator_id = e.originator_id AND f.originator_version = 1
WHERE e.notification_id BETWEEN %(start)s AND %(end)s
  AND (%(topic)s::text IS NULL OR e.topic = %(topic)s::text)
  AND (%(user_id)s::text IS NULL
       OR convert_from(f.state, 'UTF8')::jsonb ->> 'subject' = %(subject)s::text
       OR convert_from(f.state, 'UTF8')::jsonb ->> 'user_id' = %(user_id)s::text);

-- name: audit_count_unfiltered
-- How many stored events of a log range pass a topic filter (no user filter: the
-- join that finds an event's user is not needed to count).
SELECT count(*)
FROM {events} AS e
WHERE e.notification_id BETWEEN %(start)s AND %(end)s
  AND (%(topic)s::text IS NULL OR e.topic = %(topic)s::text);

-- name: sealed_leaves
-- The sealed leaves (index and hash) of some log positions.
SELECT position, leaf_index, leaf_hash FROM ledger_leaves
WHERE position = ANY(%(positions)s::bigint[]);

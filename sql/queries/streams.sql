-- The event feed and stream (projections/streams/): stored events after a position,
-- in log order, with what their CloudEvent carries beside the stored bytes. {events}
-- is the stored-events table, filled in with psycopg.sql.Identifier. A filter given
-- as NULL is off.

-- name: feed_bounds
-- The log's head and the position the latest checkpoint covers (0 for none).
SELECT (SELECT coalesce(max(notification_id), 0) FROM {events}),
       (SELECT coalesce(max(position), 0) FROM ledger_checkpoints);

-- name: feed_events
-- Up to %(limit)s streamed events after a position, up to %(upto)s, that pass the
-- filters: each with its export id and, for an export stored before fields were
-- sealed, its clear user id (both from its aggregate's first event), and its leaf
-- index and the first checkpoint size that covers it (NULL before it is sealed).
SELECT e.notification_id, uuid_send(e.originator_id), e.originator_version, e.topic, e.state,
       first.export_id, first.legacy_user_id, l.leaf_index, c.tree_size
FROM {events} AS e
LEFT JOIN {events} AS f ON f.originator_id = e.originator_id AND f.originator_version = 1
CROSS JOIN LATERAL (
    SELECT convert_from(f.state, 'UTF8')::json AS doc) AS d
CROSS JOIN LATERAL (
    SELECT d.doc ->> 'export_id' AS export_id,
           CASE WHEN d.doc ->> 'subject' IS NULL THEN d.doc ->> 'user_id' END AS legacy_user_id
) AS first
LEFT JOIN ledger_leaves AS l ON l.position = e.notification_id
LEFT JOIN LATERAL (
    SELECT min(k.tree_size) AS tree_size FROM ledger_checkpoints AS k
    WHERE k.tree_size > l.leaf_index) AS c ON true
WHERE e.notification_id > %(after)s AND e.notification_id <= %(upto)s
  AND e.topic = ANY(%(topics)s::text[])
  AND (%(user_id)s::text IS NULL
       OR d.doc ->> 'subject' = %(subject)s::text
       OR d.doc ->> 'user_id' = %(user_id)s::text)
ORDER BY e.notification_id
LIMIT %(limit)s;

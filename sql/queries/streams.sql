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
-- The page is chosen first, in position order (an index scan that stops at the
-- limit), and only its rows are looked up: a page costs the same wherever it starts.
WITH page AS MATERIALIZED (
    SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state
    FROM {events} AS e
    WHERE e.notification_id > %(after)s AND e.notification_id <= %(upto)s
      AND e.topic = ANY(%(topics)s::text[])
      AND (%(user_id)s::text IS NULL OR EXISTS (
          SELECT 1 FROM {events} AS u
          WHERE u.originator_id = e.originator_id AND u.originator_version = 1
            AND (convert_from(u.state, 'UTF8')::json ->> 'subject' = %(subject)s::text
                 OR convert_from(u.state, 'UTF8')::json ->> 'user_id' = %(user_id)s::text)))
    ORDER BY e.notification_id
    LIMIT %(limit)s
)
SELECT p.notification_id, uuid_send(p.originator_id), p.originator_version, p.topic, p.state,
       p.doc ->> 'export_id',
       CASE WHEN p.doc ->> 'subject' IS NULL THEN p.doc ->> 'user_id' END,
       p.leaf_index,
       (SELECT min(k.tree_size) FROM ledger_checkpoints AS k WHERE k.tree_size > p.leaf_index)
FROM (
    -- one index lookup per row of the page (subplans, never a join over a whole table)
    SELECT e.*,
           (SELECT convert_from(f.state, 'UTF8')::json FROM {events} AS f
            WHERE f.originator_id = e.originator_id AND f.originator_version = 1) AS doc,
           (SELECT l.leaf_index FROM ledger_leaves AS l
            WHERE l.position = e.notification_id) AS leaf_index
    FROM page AS e
    OFFSET 0
) AS p
ORDER BY p.notification_id;

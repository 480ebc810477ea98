-- Queries of the sealed log (Merkle leaves, subtree nodes, signed checkpoints).
-- {events} is the stored-events table, filled in with psycopg.sql.Identifier.

-- name: lock_tracking
SELECT position FROM read_model_tracking WHERE table_name = 'ledger_seal' FOR UPDATE;

-- name: set_tracking
UPDATE read_model_tracking SET position = %s, updated_at = now()
WHERE table_name = 'ledger_seal';

-- name: tracking_position
SELECT position FROM read_model_tracking WHERE table_name = 'ledger_seal';

-- name: leaf_count
SELECT coalesce(max(leaf_index) + 1, 0) FROM ledger_leaves;

-- name: events_after
SELECT notification_id, uuid_send(originator_id), originator_version, topic, state
FROM {events}
WHERE notification_id > %s
ORDER BY notification_id
LIMIT %s;

-- name: nodes
SELECT n.level, n.node_index, n.hash
FROM unnest(%s::integer[], %s::bigint[]) AS w(level, node_index)
JOIN ledger_nodes AS n ON n.level = w.level AND n.node_index = w.node_index
UNION ALL
SELECT 0, leaf_index, leaf_hash FROM ledger_leaves WHERE leaf_index = ANY(%s::bigint[]);

-- name: insert_leaves
INSERT INTO ledger_leaves (leaf_index, position, leaf_hash)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[]);

-- name: insert_nodes
INSERT INTO ledger_nodes (level, node_index, hash)
SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::bytea[]);

-- name: register_key
INSERT INTO ledger_keys (key_id, public_key) VALUES (%s, %s) ON CONFLICT (key_id) DO NOTHING;

-- name: insert_checkpoint
INSERT INTO ledger_checkpoints (tree_size, root_hash, position, created_at, key_id, signature)
VALUES (%s, %s, %s, %s, %s, %s);

-- name: notify_sealed
SELECT pg_notify('ledger_sealed', %s);

-- name: latest_checkpoint
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
ORDER BY c.tree_size DESC
LIMIT 1;

-- name: checkpoint
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
WHERE c.tree_size = %s;

-- name: all_checkpoints
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
ORDER BY c.tree_size;

-- name: export_leaves
SELECT e.notification_id, uuid_send(e.originator_id), e.originator_version, e.topic, e.state,
       l.leaf_index, l.leaf_hash
FROM {events} AS e LEFT JOIN ledger_leaves AS l ON l.position = e.notification_id
WHERE e.originator_id = %s
ORDER BY e.originator_version;

-- name: log_events
SELECT notification_id, uuid_send(originator_id), originator_version, topic, state
FROM {events}
ORDER BY notification_id;

-- name: log_leaves
SELECT leaf_index, position, leaf_hash FROM ledger_leaves ORDER BY leaf_index;

-- name: event_count
SELECT count(*) FROM {events};

-- name: events_upto
SELECT count(*) FROM {events} WHERE notification_id <= %s;

-- name: create_folded
CREATE TEMPORARY TABLE verify_folded (LIKE export_logs) ON COMMIT DROP;

-- name: folded_positions
SELECT export_id, min(position)
FROM (SELECT export_id, position FROM verify_folded
      UNION ALL
      SELECT export_id, position FROM export_logs) AS rows
WHERE export_id = ANY(%s)
GROUP BY export_id;

-- name: live_tracking
SELECT position FROM read_model_tracking WHERE table_name = 'export_logs';

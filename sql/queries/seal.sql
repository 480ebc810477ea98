-- Queries of the sealed log (projections/tlog/sealer.py, proofs.py): Merkle leaves,
-- subtree nodes, signed checkpoints. {events} is the stored-events table,
-- filled in with psycopg.sql.Identifier; every value is a named parameter.
-- The sealer's tracking row ('ledger_seal') is read and moved with the
-- projection's tracking queries (read_model.sql).

-- name: leaf_count
-- The size of the sealed tree (leaves are numbered from 0 without gaps).
SELECT coalesce(max(leaf_index) + 1, 0) FROM ledger_leaves;

-- name: events_after
-- The next batch of stored events to seal, in log order, with the originator
-- id as its 16 raw bytes (a leaf hashes those).
SELECT notification_id, uuid_send(originator_id), originator_version, topic, state
FROM {events}
WHERE notification_id > %(after)s
ORDER BY notification_id
LIMIT %(limit)s;

-- name: nodes
-- The stored hashes of some complete subtrees: inner nodes by (level, index),
-- leaves (level 0) by index.
SELECT n.level, n.node_index, n.hash
FROM unnest(%(levels)s::integer[], %(indexes)s::bigint[]) AS w(level, node_index)
JOIN ledger_nodes AS n ON n.level = w.level AND n.node_index = w.node_index
UNION ALL
SELECT 0, leaf_index, leaf_hash FROM ledger_leaves WHERE leaf_index = ANY(%(leaves)s::bigint[]);

-- name: insert_leaves
-- Append a batch's leaves, one array per column.
INSERT INTO ledger_leaves (leaf_index, position, leaf_hash)
SELECT * FROM unnest(%(indexes)s::bigint[], %(positions)s::bigint[], %(hashes)s::bytea[]);

-- name: insert_nodes
-- Store the subtree nodes a batch completes, one array per column.
INSERT INTO ledger_nodes (level, node_index, hash)
SELECT * FROM unnest(%(levels)s::integer[], %(indexes)s::bigint[], %(hashes)s::bytea[]);

-- name: register_key
-- Register a checkpoint key that signs from a tree size on (a rotation, or the
-- first key of a ledger).
INSERT INTO ledger_keys (key_id, public_key, signs_from)
VALUES (%(key_id)s, %(public_key)s, %(signs_from)s);

-- name: keys
-- Every checkpoint key, in the order they took over: the tree size each signs
-- from (a key registered before rotation existed: its first checkpoint's).
SELECT k.key_id, k.public_key, s.signs_from, k.created_at
FROM ledger_keys AS k
CROSS JOIN LATERAL (
    SELECT coalesce(
        k.signs_from,
        (SELECT min(c.tree_size) FROM ledger_checkpoints AS c WHERE c.key_id = k.key_id),
        1) AS signs_from) AS s
ORDER BY s.signs_from, k.created_at;

-- name: insert_checkpoint
-- Store a signed checkpoint (tree head) of the tree after a batch.
INSERT INTO ledger_checkpoints
    (tree_size, root_hash, position, created_at, key_id, signature, origin)
VALUES
    (%(tree_size)s, %(root)s, %(position)s, %(created_at)s, %(key_id)s, %(signature)s,
     %(origin)s);

-- name: latest_origin
-- The log's origin: the one of its latest C2SP checkpoint (none before the first).
SELECT origin FROM ledger_checkpoints WHERE origin IS NOT NULL ORDER BY tree_size DESC LIMIT 1;

-- name: latest_checkpoint
-- The checkpoint of the largest tree, with its key's public key (if registered).
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key,
       c.origin
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
ORDER BY c.tree_size DESC
LIMIT 1;

-- name: checkpoint
-- The checkpoint of a tree size, with its key's public key (if registered).
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key,
       c.origin
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
WHERE c.tree_size = %(tree_size)s;

-- name: all_checkpoints
-- Every checkpoint, smallest tree first, with its key's public key (if registered).
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key,
       c.origin
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
ORDER BY c.tree_size;

-- name: export_leaves
-- An export's stored events in version order, each with its sealed leaf (NULL
-- when not sealed yet).
SELECT e.notification_id, uuid_send(e.originator_id), e.originator_version, e.topic, e.state,
       l.leaf_index, l.leaf_hash
FROM {events} AS e LEFT JOIN ledger_leaves AS l ON l.position = e.notification_id
WHERE e.originator_id = %(aggregate_id)s
ORDER BY e.originator_version;

-- name: latest_note_checkpoint
-- The latest C2SP checkpoint (one with an origin), with its key's public key.
SELECT c.tree_size, c.root_hash, c.position, c.created_at, c.key_id, c.signature, k.public_key,
       c.origin
FROM ledger_checkpoints AS c LEFT JOIN ledger_keys AS k ON k.key_id = c.key_id
WHERE c.origin IS NOT NULL
ORDER BY c.tree_size DESC
LIMIT 1;

-- name: cosignatures
-- The witnesses' cosignatures of a checkpoint, in a stable order.
SELECT witness, key_id, cosigned_at, signature
FROM ledger_cosignatures
WHERE tree_size = %(tree_size)s
ORDER BY witness, key_id;

-- name: tile_leaves
-- The leaf hashes of a level-0 tile: leaves first .. first + count - 1, in order.
SELECT leaf_hash FROM ledger_leaves
WHERE leaf_index >= %(first)s AND leaf_index < %(first)s + %(count)s
ORDER BY leaf_index;

-- name: tile_nodes
-- The hashes of a tile above level 0: the complete subtrees of one height, in order.
SELECT hash FROM ledger_nodes
WHERE level = %(level)s AND node_index >= %(first)s AND node_index < %(first)s + %(count)s
ORDER BY node_index;

-- name: tile_entries
-- The stored events of an entry bundle's leaves, in leaf order, as a leaf encodes them.
SELECT e.notification_id, uuid_send(e.originator_id), e.originator_version, e.topic, e.state
FROM ledger_leaves AS l JOIN {events} AS e ON e.notification_id = l.position
WHERE l.leaf_index >= %(first)s AND l.leaf_index < %(first)s + %(count)s
ORDER BY l.leaf_index;

-- name: insert_cosignature
-- Keep a witness's cosignature of a checkpoint (a repeat of one kept is ignored).
INSERT INTO ledger_cosignatures (tree_size, witness, key_id, cosigned_at, signature)
VALUES (%(tree_size)s, %(witness)s, %(key_id)s, %(cosigned_at)s, %(signature)s)
ON CONFLICT DO NOTHING;

-- name: witness_sizes
-- The largest checkpoint each witness key has cosigned.
SELECT witness, key_id, max(tree_size) FROM ledger_cosignatures GROUP BY witness, key_id;

-- The sealed log: an RFC 6962 Merkle tree over every stored event in log
-- order, and signed checkpoints of it (see domain/tlog/merkle.py for the leaf
-- encoding and the signed checkpoint text). Written only by the sealer
-- (projections/tlog/sealer.py), as export_ledger_projector, each batch in the same
-- transaction as its tracking row ('ledger_seal' in read_model_tracking),
-- and notifies the channel ledger_sealed with the new tree size.

-- Leaf i is the i-th stored event (0-based) in notification_id order.
CREATE TABLE IF NOT EXISTS ledger_leaves (
    leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
    position bigint NOT NULL UNIQUE,
    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32)
);

-- The hash of every complete subtree above the leaves: node (level, node_index)
-- covers leaves [node_index * 2^level, (node_index + 1) * 2^level). Level 0 is
-- ledger_leaves. Any proof needs O(log^2 n) primary-key lookups here.
CREATE TABLE IF NOT EXISTS ledger_nodes (
    level integer NOT NULL CHECK (level BETWEEN 1 AND 62),
    node_index bigint NOT NULL CHECK (node_index >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
);

-- Public keys of the checkpoint signers; key_id is the first 16 hex digits of
-- SHA-256 of the 32-byte raw Ed25519 public key.
CREATE TABLE IF NOT EXISTS ledger_keys (
    key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    public_key bytea NOT NULL CHECK (length(public_key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A signed tree head: the first tree_size leaves hash to root_hash; position is
-- the notification_id of the last of them.
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
    root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    key_id text NOT NULL REFERENCES ledger_keys (key_id),
    signature bytea NOT NULL CHECK (length(signature) = 64)
);

-- Append-only, like the events: nobody updates, deletes or truncates.
DO $$
DECLARE
    t text;
    op text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ledger_leaves', 'ledger_nodes', 'ledger_keys', 'ledger_checkpoints']
    LOOP
        FOREACH op IN ARRAY ARRAY['update', 'delete', 'truncate'] LOOP
            EXECUTE format(
                'CREATE OR REPLACE TRIGGER %I BEFORE %s ON %I '
                'FOR EACH STATEMENT EXECUTE FUNCTION export_ledger_refuse_change()',
                t || '_refuse_' || op, upper(op), t);
        END LOOP;
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
        EXECUTE format('GRANT SELECT, INSERT ON %I TO export_ledger_projector', t);
        EXECUTE format('GRANT SELECT ON %I TO export_ledger_reader, export_ledger_admin', t);
    END LOOP;
END
$$;

INSERT INTO read_model_tracking (table_name) VALUES ('ledger_seal') ON CONFLICT DO NOTHING;

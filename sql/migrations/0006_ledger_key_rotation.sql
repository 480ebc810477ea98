-- Checkpoint-key rotation (projections/tlog/keys.py): each key in ledger_keys signs
-- the checkpoints of tree sizes from signs_from up to the next key's
-- signs_from. 'export-ledger keys rotate' registers a new key with signs_from
-- one past the sealed tree, holding the sealer's tracking row, so no batch can
-- sign with the key it retires. Keys registered before this migration have no
-- signs_from: they sign from their first checkpoint.
ALTER TABLE ledger_keys ADD COLUMN IF NOT EXISTS signs_from bigint CHECK (signs_from > 0);

CREATE INDEX IF NOT EXISTS ledger_checkpoints_key_id ON ledger_checkpoints (key_id, tree_size);

-- Queries of the sealed-ledger HTTP routes (see also seal.sql). They run in a
-- transaction that has taken on export_ledger_reader or export_ledger_admin.

-- name: signing_key
-- A registered checkpoint key: the one asked for, else the latest checkpoint's.
SELECT key_id, public_key, created_at
FROM ledger_keys
WHERE key_id = coalesce(
    %(key_id)s::text,
    (SELECT key_id FROM ledger_checkpoints ORDER BY tree_size DESC LIMIT 1));

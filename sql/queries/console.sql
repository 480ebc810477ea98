-- Queries of the web console, /metrics and the status command. They run in a
-- transaction that has taken on export_ledger_reader or export_ledger_admin
-- (see api.sql), so row-level security applies to every row they read.

-- name: ledger_positions
-- The positions the projection and the sealer include, and the largest checkpoint.
SELECT (SELECT position FROM read_model_tracking WHERE table_name = 'export_logs') AS projected,
       (SELECT position FROM read_model_tracking WHERE table_name = 'ledger_seal') AS sealed,
       (SELECT max(tree_size) FROM ledger_checkpoints) AS checkpoint_size;

-- name: status_counts
-- How many exports (that row-level security shows) are in each status.
SELECT status, count(*) AS exports
FROM export_logs
GROUP BY status
ORDER BY status;

-- name: server_version
-- The PostgreSQL server's version.
SELECT current_setting('server_version') AS version;

-- Queries of the web console, /metrics and the status command. They run in a
-- transaction that has taken on export_ledger_reader or export_ledger_admin
-- (see api.sql), so row-level security applies to every row they read.

-- name: ledger_positions
SELECT (SELECT position FROM read_model_tracking WHERE table_name = 'export_logs') AS projected,
       (SELECT position FROM read_model_tracking WHERE table_name = 'ledger_seal') AS sealed,
       (SELECT max(tree_size) FROM ledger_checkpoints) AS checkpoint_size;

-- name: status_counts
SELECT status, count(*) AS exports
FROM export_logs
GROUP BY status
ORDER BY status;

-- name: server_version
SELECT current_setting('server_version') AS version;

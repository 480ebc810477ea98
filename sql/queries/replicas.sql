-- Queries that route reads between the primary and its streaming replicas.

-- name: read_position
-- The log position the read table includes, on whichever server answers.
SELECT coalesce(
           (SELECT position FROM read_model_tracking WHERE table_name = 'export_logs'), 0
       ) AS position;

-- name: in_recovery
-- Whether this server is a standby (after a failover a replica may be the new primary).
SELECT pg_is_in_recovery() AS standby;

-- The live sync's own state in the ledger (sql/migrations/0012_sync.sql): the stored
-- position of each slot, the map from source row ids to exports, diverged exports.

-- name: position_of
-- A slot's stored position and phase (no row: never followed).
SELECT slot_name, source_table, publication, created_publication, phase, end_lsn::text,
    ordinal, done
FROM sync_positions WHERE slot_name = %(slot)s;

-- name: begin_import
-- The initial import of a slot is under way (a crash now means: import again).
INSERT INTO sync_positions (slot_name, source_table, publication, created_publication, phase,
    end_lsn, ordinal, done)
VALUES (%(slot)s, %(table)s, %(publication)s, %(created)s, 'importing', %(lsn)s::pg_lsn, 0, true)
ON CONFLICT (slot_name) DO UPDATE SET source_table = EXCLUDED.source_table,
    publication = EXCLUDED.publication, created_publication = EXCLUDED.created_publication,
    phase = 'importing', end_lsn = EXCLUDED.end_lsn, ordinal = 0, done = true,
    changes_applied = 0, updated_at = now();

-- name: start_following
-- The initial import is recorded: follow from the slot's consistent point.
UPDATE sync_positions SET phase = 'following', updated_at = now()
WHERE slot_name = %(slot)s AND phase = 'importing';

-- name: move_position
-- Compare-and-set: the position moves only from where this follower last left it.
UPDATE sync_positions SET end_lsn = %(lsn)s::pg_lsn, ordinal = %(ordinal)s, done = %(done)s,
    committed_at = coalesce(%(committed_at)s, committed_at), applied_at = now(),
    lag_bytes = %(lag_bytes)s, changes_applied = changes_applied + %(applied)s,
    updated_at = now()
WHERE slot_name = %(slot)s AND phase = 'following' AND end_lsn = %(was_lsn)s::pg_lsn
    AND ordinal = %(was_ordinal)s AND done = %(was_done)s;

-- name: record_lag
-- How far behind the source's current WAL the follower is, and the slot's WAL status.
UPDATE sync_positions SET lag_bytes = %(lag_bytes)s, wal_status = %(wal_status)s,
    updated_at = now()
WHERE slot_name = %(slot)s;

-- name: map_source_ids
-- Source row ids to their exports (filled by the import and by followed inserts).
INSERT INTO sync_source_ids (slot_name, source_id, export_id)
SELECT %(slot)s, s, e FROM unnest(%(source_ids)s::text[], %(export_ids)s::text[]) AS m(s, e)
ON CONFLICT (slot_name, source_id) DO UPDATE SET export_id = EXCLUDED.export_id;

-- name: unmap_source_ids
-- Rows deleted in the source.
DELETE FROM sync_source_ids WHERE slot_name = %(slot)s AND source_id = ANY(%(source_ids)s::text[]);

-- name: exports_of_source_ids
-- The exports of a batch's source row ids.
SELECT source_id, export_id FROM sync_source_ids
WHERE slot_name = %(slot)s AND source_id = ANY(%(source_ids)s::text[]);

-- name: mark_diverged
-- An export whose latest change was refused: the ledger stands as it last accepted.
INSERT INTO sync_diverged (slot_name, export_id, source_id, end_lsn, ordinal, source_status,
    ledger_status, reason)
VALUES (%(slot)s, %(export_id)s, %(source_id)s, %(lsn)s::pg_lsn, %(ordinal)s,
    %(source_status)s, %(ledger_status)s, %(reason)s)
ON CONFLICT (slot_name, export_id) DO UPDATE SET source_id = EXCLUDED.source_id,
    end_lsn = EXCLUDED.end_lsn, ordinal = EXCLUDED.ordinal,
    source_status = EXCLUDED.source_status, ledger_status = EXCLUDED.ledger_status,
    reason = EXCLUDED.reason, recorded_at = now();

-- name: clear_diverged
-- Exports a later accepted change made stand as the source says again.
DELETE FROM sync_diverged WHERE slot_name = %(slot)s AND export_id = ANY(%(export_ids)s::text[]);

-- name: diverged_exports
-- The diverged exports of every slot, oldest first.
SELECT slot_name, export_id, source_id, end_lsn::text, ordinal, source_status, ledger_status,
    reason, recorded_at
FROM sync_diverged ORDER BY recorded_at, export_id;

-- name: forget_slot_positions
-- A dropped slot's position.
DELETE FROM sync_positions WHERE slot_name = %(slot)s;

-- name: forget_slot_ids
-- A dropped slot's map of source ids.
DELETE FROM sync_source_ids WHERE slot_name = %(slot)s;

-- name: forget_slot_diverged
-- A dropped slot's diverged exports.
DELETE FROM sync_diverged WHERE slot_name = %(slot)s;

-- name: sync_statuses
-- Every slot's follow, for status and /metrics.
SELECT p.slot_name, p.source_table, p.phase, p.end_lsn::text, p.committed_at, p.applied_at,
    p.lag_bytes, p.wal_status, p.changes_applied,
    extract(epoch FROM (p.applied_at - p.committed_at))::float8 AS lag_seconds,
    (SELECT count(*) FROM sync_diverged AS d WHERE d.slot_name = p.slot_name) AS diverged
FROM sync_positions AS p ORDER BY p.slot_name;

-- name: sync_lags
-- Every slot's lag, for /metrics (the reader role may read sync_positions).
SELECT slot_name, lag_bytes, extract(epoch FROM (applied_at - committed_at))::float8
FROM sync_positions ORDER BY slot_name;

-- name: latest_versions
-- The latest stored version of each of a batch's exports, to check the follower's
-- copies in memory against the events table (an index-only read).
SELECT originator_id, max(originator_version)
FROM {events}
WHERE originator_id = ANY(%(ids)s::uuid[])
GROUP BY originator_id;

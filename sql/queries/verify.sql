-- Queries of `export-ledger verify` (projections/audit/verify.py), all read in one
-- repeatable-read snapshot that a second process may share. {events} is the
-- stored-events table and {folded} the temporary table of the rows the events
-- fold into, both filled in with psycopg.sql.Identifier.

-- name: export_snapshot
-- Name this transaction's snapshot, so that another transaction can read in it.
SELECT pg_export_snapshot();

-- name: set_snapshot
-- Read in an exported snapshot. {snapshot} is its name as a psycopg.sql.Literal:
-- SET TRANSACTION takes no parameter.
SET TRANSACTION SNAPSHOT {snapshot};

-- name: event_count
-- How many events the log holds.
SELECT count(*) FROM {events};

-- name: events_upto
-- How many events the log holds up to a position.
SELECT count(*) FROM {events} WHERE notification_id <= %(position)s;

-- name: log_events
-- Every stored event in log order, with the originator id as its 16 raw bytes
-- (a leaf hashes those).
SELECT notification_id, uuid_send(originator_id), originator_version, topic, state
FROM {events}
ORDER BY notification_id;

-- name: log_leaves
-- Every sealed leaf in tree order.
SELECT leaf_index, position, leaf_hash FROM ledger_leaves ORDER BY leaf_index;

-- name: create_folded
-- A temporary table like export_logs for the rows the events fold into.
CREATE TEMPORARY TABLE {folded} (LIKE export_logs) ON COMMIT DROP;

-- name: folded_positions
-- The earliest position of some exports' rows, folded or live: where their
-- difference is reported.
SELECT export_id, min(position)
FROM (SELECT export_id, position FROM {folded}
      UNION ALL
      SELECT export_id, position FROM export_logs) AS rows
WHERE export_id = ANY(%(export_ids)s)
GROUP BY export_id;

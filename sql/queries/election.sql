-- Queries of the projector election (projections/projector.py): of all the
-- processes that could run the follower and the sealer, the one holding a
-- session-level advisory lock does (its two int4 keys are k1 and k2).

-- name: try_projector_lock
-- Take the projector lock if no session holds it; true when this session holds it.
SELECT pg_try_advisory_lock(%(k1)s, %(k2)s) AS held;

-- name: still_connected
-- A cheap round trip: it fails once the session (and so its lock) is gone.
SELECT 1 AS alive;

-- name: projector_holder
-- The application_name of the session holding the projector lock in this database.
SELECT a.application_name AS holder
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = %(k1)s AND l.objid = %(k2)s AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());

-- Queries of the event store's recorder (api/wiring/eventstore.py), beside the
-- eventsourcing library's own. {events} is the stored-events table (schema
-- and name), filled in with psycopg.sql.Identifier.

-- name: lock_timeout
-- How long a writer waits for the events table's lock before giving up.
-- {timeout} is a psycopg.sql.Literal such as '10s': SET takes no parameter.
SET LOCAL lock_timeout = {timeout};

-- name: lock_events
-- Serialise writers on the events table (an EXCLUSIVE lock, taken by an
-- owner-defined function: see sql/migrations/0002_event_store_guard.sql).
SELECT export_ledger_lock_events();

-- name: event_positions
-- The log position of each version of one aggregate.
SELECT originator_version, notification_id
FROM {events}
WHERE originator_id = %(originator_id)s
ORDER BY originator_version;

-- Queries of the event store's recorder (api/wiring/eventstore.py), beside the
-- eventsourcing library's own. {events} is the stored-events table (schema
-- and name), filled in with psycopg.sql.Identifier.

-- name: insert_events
-- A command's events in one autocommit statement: lock, NOTIFY, INSERT, and
-- their notification ids in order (sql/migrations/0008_insert_events_function.sql).
SELECT notification_id
FROM export_ledger_insert_events(
    %(ids)s::uuid[], %(versions)s::bigint[], %(topics)s::text[], %(states)s::bytea[]
) AS notification_id;

-- name: insert_event
-- One event the same way (export_ledger_insert_event), with scalar parameters.
SELECT export_ledger_insert_event(
    %(id)s::uuid, %(version)s::bigint, %(topic)s::text, %(state)s::bytea
) AS notification_id;

-- name: insert_events_keyed
-- A command's (or a group commit's) events with the keys of the new exports among
-- them, in one autocommit statement: the keys, then as insert_events
-- (sql/migrations/0016_export_keys_with_events.sql; SQLSTATE 23K01: no key stored).
SELECT notification_id
FROM export_ledger_insert_events_keyed(
    %(ids)s::uuid[], %(versions)s::bigint[], %(topics)s::text[], %(states)s::bytea[],
    %(key_ids)s::uuid[], %(key_subjects)s::text[], %(keys)s::bytea[]
) AS notification_id;

-- name: insert_event_keyed
-- One event and its new export's key the same way, with scalar parameters.
SELECT export_ledger_insert_event_keyed(
    %(id)s::uuid, %(version)s::bigint, %(topic)s::text, %(state)s::bytea,
    %(key_subject)s::text, %(key)s::bytea
) AS notification_id;

-- name: store_export_keys
-- New exports' keys, in a transaction that then inserts their events (an events
-- table of another name than the functions know).
SELECT export_ledger_store_export_keys(
    %(key_ids)s::uuid[], %(key_subjects)s::text[], %(keys)s::bytea[]
);

-- name: lock_events
-- Serialise writers on the events table (an EXCLUSIVE lock, taken by an
-- owner-defined function: see sql/migrations/0002_event_store_guard.sql).
SELECT export_ledger_lock_events();

-- name: select_events
-- Every event of one aggregate, in version order (what a command loads).
SELECT originator_id, originator_version, topic, state
FROM {events}
WHERE originator_id = %(originator_id)s
ORDER BY originator_version;

-- name: event_positions
-- The log position of each version of one aggregate.
SELECT originator_version, notification_id
FROM {events}
WHERE originator_id = %(originator_id)s
ORDER BY originator_version;

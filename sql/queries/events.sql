-- name: lock_events
SELECT export_ledger_lock_events();

-- name: event_positions
SELECT originator_version, notification_id
FROM {events}
WHERE originator_id = %s
ORDER BY originator_version;

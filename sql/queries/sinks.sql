-- Webhook sinks (projections/sinks/, sql/migrations/0013_event_sinks.sql): managed by
-- writers, delivered by the projector's sender under a lease.

-- name: add_sink
-- A new sink, active from %(cursor)s on (the head when it is added: new events only).
INSERT INTO event_sinks (name, url, types, user_id, personal, secret_sealed, cursor)
VALUES (%(name)s, %(url)s, %(types)s, %(user_id)s, %(personal)s, %(secret)s, %(cursor)s)
ON CONFLICT (name) DO NOTHING
RETURNING name;

-- name: list_sinks
-- Every sink with its delivery state, by name.
SELECT name, url, types, user_id, personal, state, cursor, attempts, next_attempt_at,
       last_error, delivered_at, lease_holder, lease_until, batch_first, batch_last
FROM event_sinks
ORDER BY name;

-- name: remove_sink
-- Forget a sink (and its deliveries).
DELETE FROM event_sinks WHERE name = %(name)s RETURNING name;

-- name: pause_sink
-- Stop delivering to a sink (its cursor and batch stay).
UPDATE event_sinks SET state = 'paused' WHERE name = %(name)s RETURNING name;

-- name: resume_sink
-- Deliver to a paused or failing sink again, now.
UPDATE event_sinks SET state = 'active', attempts = 0, next_attempt_at = now()
WHERE name = %(name)s
RETURNING name;

-- name: replay_sink
-- Deliver again from a position on: the cursor moves back and the batch is dropped.
UPDATE event_sinks
SET cursor = %(cursor)s, batch_first = NULL, batch_last = NULL, batch_id = NULL,
    attempts = 0, next_attempt_at = now()
WHERE name = %(name)s
RETURNING name;

-- name: deliverable_sinks
-- The sinks a sender may work on now (not paused).
SELECT name FROM event_sinks WHERE state <> 'paused' ORDER BY name;

-- name: take_lease
-- Hold a sink's lease until %(seconds)s from now, when it is free, expired or ours,
-- and the sink is not paused; the sink's row when taken.
UPDATE event_sinks
SET lease_holder = %(holder)s, lease_until = now() + make_interval(secs => %(seconds)s)
WHERE name = %(name)s AND state <> 'paused'
  AND (lease_holder IS NULL OR lease_holder = %(holder)s OR lease_until < now())
RETURNING name, url, types, user_id, personal, secret_sealed, state, cursor, batch_first,
          batch_last, batch_id, attempts, next_attempt_at <= now() AS due;

-- name: release_lease
-- Give a sink's lease up (a sender that stops).
UPDATE event_sinks SET lease_holder = NULL, lease_until = NULL
WHERE name = %(name)s AND lease_holder = %(holder)s;

-- name: set_batch
-- The batch a sink is to be sent, stored before its first attempt (under our lease).
UPDATE event_sinks
SET batch_first = %(first)s, batch_last = %(last)s, batch_id = %(batch_id)s
WHERE name = %(name)s AND lease_holder = %(holder)s
RETURNING name;

-- name: skip_to
-- Move a sink's cursor over positions with nothing for it (under our lease).
UPDATE event_sinks SET cursor = %(cursor)s
WHERE name = %(name)s AND lease_holder = %(holder)s AND batch_first IS NULL
  AND cursor < %(cursor)s;

-- name: delivered
-- A batch acknowledged: the cursor moves to its last position.
UPDATE event_sinks
SET cursor = batch_last, batch_first = NULL, batch_last = NULL, batch_id = NULL,
    attempts = 0, state = 'active', last_error = NULL, delivered_at = now(),
    next_attempt_at = now()
WHERE name = %(name)s AND lease_holder = %(holder)s AND batch_id = %(batch_id)s;

-- name: failed
-- A batch refused or not answered: retry after %(delay)s seconds, failing after enough.
UPDATE event_sinks
SET attempts = attempts + 1, last_error = %(error)s,
    next_attempt_at = now() + make_interval(secs => %(delay)s),
    state = CASE WHEN state = 'paused' THEN state
                 WHEN attempts + 1 >= %(failing_after)s THEN 'failing' ELSE 'active' END
WHERE name = %(name)s AND lease_holder = %(holder)s AND batch_id = %(batch_id)s;

-- name: record_delivery
-- The result of one attempt.
INSERT INTO event_sink_deliveries
    (sink, webhook_id, first_position, last_position, events, attempt, status, error)
VALUES (%(name)s, %(batch_id)s, %(first)s, %(last)s, %(events)s, %(attempt)s, %(status)s,
        %(error)s);

-- name: deliveries
-- A sink's latest attempts, newest first.
SELECT webhook_id, first_position, last_position, events, attempt, status, error, at
FROM event_sink_deliveries
WHERE sink = %(name)s
ORDER BY id DESC
LIMIT %(limit)s;

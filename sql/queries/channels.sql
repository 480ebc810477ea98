-- Notification channels (their names are in sql/names.py). {channel} is an
-- identifier filled in with psycopg.sql.Identifier: LISTEN takes no parameter.

-- name: listen
-- Receive the notifications of a channel on this (autocommit) connection.
LISTEN {channel};

-- name: notify
-- Notify a channel, at commit: the follower's and the sealer's new positions,
-- or a wake-up for a listener that is being stopped.
SELECT pg_notify(%(channel)s, %(payload)s);

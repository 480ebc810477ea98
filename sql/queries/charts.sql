-- The console's charts (api/http/console/charts.py). {events} is the stored-events table,
-- filled in with psycopg.sql.Identifier.

-- name: events_per_hour
-- Events per hour and type since %(since)s, among the latest %(scan)s stored events (a
-- bounded scan: the recorded time is inside each event's state), claims left out.
SELECT date_trunc('hour', t.at) AS hour, split_part(t.topic, '.', 3) AS kind, count(*)
FROM (
    SELECT topic,
           (convert_from(state, 'UTF8')::json -> 'timestamp' ->> '_data_')::timestamptz AS at
    FROM {events}
    ORDER BY notification_id DESC
    LIMIT %(scan)s
) AS t
WHERE t.at >= %(since)s AND t.topic <> 'domain.model:IdempotencyClaim.Claimed'
GROUP BY 1, 2
ORDER BY 1, 2;

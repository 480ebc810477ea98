-- Retention (domain/ledger/retention.py, sql/migrations/0015_retention.sql).

-- name: candidates
-- Exports not yet shed, after %(after)s in aggregate id order, from the stored
-- events (deleted ones too): each with whether it has a key of its own. An export
-- the last run decided on (retention_checked, sql/migrations/0017_retention_checked.sql)
-- is left out while that decision stands: no event recorded since, the same
-- policies, and its due time (NULL: none) still after %(now)s.
SELECT e.originator_id,
       EXISTS (SELECT 1 FROM export_keys AS k WHERE k.aggregate_id = e.originator_id)
FROM exportledger_events AS e
LEFT JOIN retention_checked AS c ON c.aggregate_id = e.originator_id
WHERE e.originator_version = 1
  AND e.topic = ANY(%(created)s::text[])
  AND e.originator_id > %(after)s
  AND NOT EXISTS (
      SELECT 1 FROM exportledger_events AS r
      WHERE r.originator_id = e.originator_id AND r.topic = %(applied)s
  )
  AND (
      c.aggregate_id IS NULL
      OR c.policies_version <> %(policies)s
      OR c.due_at <= %(now)s
      OR EXISTS (
          SELECT 1 FROM exportledger_events AS n
          WHERE n.originator_id = e.originator_id AND n.originator_version > c.export_version
      )
  )
ORDER BY e.originator_id
LIMIT %(limit)s;

-- name: remember_checked
-- The decisions of a run on exports it did not shed: for each, the version it read
-- and when it falls due (NULL: no policy applies), under the policies' version.
INSERT INTO retention_checked (aggregate_id, export_version, policies_version, due_at)
SELECT t.id, t.version, %(policies)s, t.due
FROM unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(due)s::timestamptz[]) AS t(id, version, due)
ON CONFLICT (aggregate_id) DO UPDATE
SET export_version = EXCLUDED.export_version,
    policies_version = EXCLUDED.policies_version,
    due_at = EXCLUDED.due_at;

-- name: shed_versions
-- Shed the export's own personal columns of every stored version of the exports
-- named (a NULL stays NULL; an erased subject's stay erased), as the fold sheds the
-- versions it makes itself.
UPDATE {table}
SET config = %(config)s,
    file_url = CASE WHEN file_url IS NULL THEN NULL ELSE %(file_url)s END,
    error_message = CASE WHEN error_message IS NULL THEN NULL ELSE %(error_message)s END
WHERE id = ANY(%(ids)s::uuid[]) AND user_id NOT LIKE %(erased)s;

-- name: shed_counts
-- Exports a retention shed, and of them those with no key of their own (sealed before
-- export keys: their events still open under their subject's key).
SELECT count(*) AS shed,
       count(*) FILTER (
           WHERE NOT EXISTS (SELECT 1 FROM export_keys AS k WHERE k.aggregate_id = e.originator_id)
       ) AS old_format
FROM exportledger_events AS e
WHERE e.topic = %(applied)s;

-- name: track_snapshot
-- A table written by rebuild --as-of --into, for retention to shed its rows too.
INSERT INTO read_model_snapshots (name, as_of) VALUES (%(name)s, %(at)s)
ON CONFLICT (name) DO UPDATE SET as_of = EXCLUDED.as_of, created_at = now();

-- name: tracked_snapshots
-- The snapshot tables that still exist.
SELECT name FROM read_model_snapshots WHERE to_regclass(quote_ident(name)) IS NOT NULL
ORDER BY name;

-- name: events_of
-- The stored events of a page of candidates, in order.
SELECT originator_id, originator_version, topic, state
FROM exportledger_events
WHERE originator_id = ANY(%(ids)s::uuid[])
ORDER BY originator_id, originator_version;

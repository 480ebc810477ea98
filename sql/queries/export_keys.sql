-- The exports' own keys (sql/migrations/0014_export_keys.sql). Key values are never
-- logged: statements take them as parameters and errors never echo them. An export's
-- key is made only while its subject's key is live, its subject_keys row share-locked
-- for the statement; an erasure takes that row's lock exclusively first, so no key
-- is being made while it destroys them, and none is made for the subject after.

-- name: make_export_key
-- An export's key (shed, erased: whether it is gone and why), made from %(key)s unless
-- it has one. No row: its subject is erased (or has no key), or another writer made
-- it after this statement's snapshot (the caller reads it alone).
WITH live AS (
    SELECT subject FROM subject_keys
    WHERE subject = %(subject)s AND key IS NOT NULL
    FOR SHARE
), made AS (
    INSERT INTO export_keys (aggregate_id, subject, key)
    SELECT %(id)s, subject, %(key)s FROM live
    ON CONFLICT (aggregate_id) DO NOTHING
    RETURNING key, shed_at, erased_at
)
SELECT key, shed_at IS NOT NULL AS shed, erased_at IS NOT NULL AS erased FROM made
UNION ALL
SELECT key, shed_at IS NOT NULL, erased_at IS NOT NULL
FROM export_keys WHERE aggregate_id = %(id)s
LIMIT 1;

-- name: make_export_keys
-- The keys of many exports: those with %(make)s true made from %(keys)s (one per
-- export, in the same order) unless they have one, for subjects whose key is live;
-- the others only read. An export left out has no key (or was made by another writer
-- after this statement's snapshot).
WITH wanted AS (
    SELECT *
    FROM unnest(%(ids)s::uuid[], %(subjects)s::text[], %(keys)s::bytea[], %(make)s::boolean[])
        AS w(aggregate_id, subject, key, make)
), live AS (
    SELECT subject FROM subject_keys
    WHERE subject IN (SELECT subject FROM wanted WHERE make) AND key IS NOT NULL
    ORDER BY subject
    FOR SHARE
), made AS (
    INSERT INTO export_keys (aggregate_id, subject, key)
    SELECT w.aggregate_id, w.subject, w.key FROM wanted AS w JOIN live USING (subject)
    WHERE w.make
    ON CONFLICT (aggregate_id) DO NOTHING
    RETURNING aggregate_id, subject, key, shed_at, erased_at
)
SELECT aggregate_id, subject, key, shed_at IS NOT NULL AS shed, erased_at IS NOT NULL AS erased
FROM made
UNION ALL
SELECT k.aggregate_id, k.subject, k.key, k.shed_at IS NOT NULL, k.erased_at IS NOT NULL
FROM export_keys AS k JOIN wanted USING (aggregate_id);

-- name: export_key
-- An export's key, and whether it is gone and why (no row: it has none).
SELECT key, shed_at IS NOT NULL AS shed, erased_at IS NOT NULL AS erased
FROM export_keys WHERE aggregate_id = %(id)s;

-- name: export_keys_of
-- The keys of some exports (a fold's batch or chunk); an export without one is left out.
SELECT aggregate_id, subject, key, shed_at IS NOT NULL AS shed, erased_at IS NOT NULL AS erased
FROM export_keys WHERE aggregate_id = ANY(%(ids)s::uuid[]);

-- name: export_keys_between
-- The keys of the exports from one aggregate id to another (a rebuild's chunk, which
-- reads the events in aggregate order); an export without one is left out.
SELECT aggregate_id, key, shed_at IS NOT NULL AS shed, erased_at IS NOT NULL AS erased
FROM export_keys WHERE aggregate_id BETWEEN %(first)s AND %(last)s;

-- The data subjects' keys (sql/migrations/0011_subject_keys.sql). Key values are
-- never logged: statements take them as parameters and errors never echo them.

-- name: subject_secret
-- The HMAC secret of the subjects' pseudonyms.
SELECT secret FROM ledger_subject_secret;

-- name: writing_key
-- A subject's key, made from %(key)s on first use (erased: key NULL, erased_at set).
WITH made AS (
    INSERT INTO subject_keys (subject, key) VALUES (%(subject)s, %(key)s)
    ON CONFLICT (subject) DO NOTHING
    RETURNING key, erased_at
)
SELECT key, erased_at FROM made
UNION ALL
SELECT key, erased_at FROM subject_keys WHERE subject = %(subject)s
LIMIT 1;

-- name: writing_keys
-- The keys of many subjects, those missing made from %(keys)s (one per subject, in
-- the same order). A subject made by another writer after this statement's snapshot
-- is in neither half: the caller fetches it alone.
WITH wanted AS (
    SELECT * FROM unnest(%(subjects)s::text[], %(keys)s::bytea[]) AS w(subject, key)
), made AS (
    INSERT INTO subject_keys (subject, key) SELECT subject, key FROM wanted
    ON CONFLICT (subject) DO NOTHING
    RETURNING subject, key
)
SELECT subject, key FROM made
UNION ALL
SELECT k.subject, k.key FROM subject_keys AS k JOIN wanted USING (subject);

-- name: reading_keys
-- The keys of many subjects (NULL once erased); a subject with none is left out.
SELECT subject, key FROM subject_keys WHERE subject = ANY(%(subjects)s::text[]);

-- name: reading_key
-- A subject's key and whether it was erased (no row: the subject has no key).
SELECT key, erased_at FROM subject_keys WHERE subject = %(subject)s;

-- name: all_keys
-- Every subject's key (NULL once erased), for a fold of the whole log.
SELECT subject, key FROM subject_keys;

-- name: claim_subject
-- The first of an erasure's statements: a subject without a key row gets an erased one
-- (a writer making its first key waits for the erasure, then finds it erased); made
-- says whether this made it.
INSERT INTO subject_keys (subject, key, erased_at) VALUES (%(subject)s, NULL, now())
ON CONFLICT (subject) DO NOTHING
RETURNING true AS made;

-- name: lock_subject
-- The subject's lock, exclusively, for its erasure: it waits for the statements that
-- are making the subject's export keys (they share it) and holds off those to come
-- until the erasure commits (they then find the subject erased). erased_at: before.
SELECT erased_at FROM subject_keys WHERE subject = %(subject)s FOR UPDATE;

-- name: erase_key
-- Destroy a subject's key and every export key of theirs, in one statement, under the
-- subject's lock (lock_subject, in the same transaction: this statement's snapshot
-- sees every export key made before it). A retention's shed key is marked erased too.
WITH exports AS (
    UPDATE export_keys SET key = NULL, erased_at = now()
    WHERE subject = %(subject)s AND erased_at IS NULL
    RETURNING aggregate_id
)
UPDATE subject_keys SET key = NULL, erased_at = coalesce(erased_at, now())
WHERE subject = %(subject)s
RETURNING (SELECT count(*) FROM exports) AS export_keys;

-- name: add_erased_exports
-- List exports as their subject's erased ones.
INSERT INTO erased_exports (aggregate_id, subject)
SELECT unnest(%(ids)s::uuid[]), %(subject)s
ON CONFLICT (aggregate_id) DO NOTHING;

-- name: erased_exports
-- Every erased export and its subject.
SELECT aggregate_id, subject FROM erased_exports;

-- name: subject_export_ids
-- The exports a user has had (deleted ones too), from the history of the read table.
SELECT DISTINCT export_id FROM export_log_versions WHERE user_id = %(user_id)s;

-- name: subject_open_holds
-- The open legal holds of some exports.
SELECT export_id, hold_id, matter FROM export_holds
WHERE export_id = ANY(%(export_ids)s::text[]) AND released_at IS NULL
ORDER BY export_id, hold_id;

-- name: erase_rows
-- Show an erased subject's personal columns as erased in a read table, as the fold
-- makes them of the events once the key is gone.
UPDATE {table}
SET user_id = %(user_id)s,
    config = jsonb_build_object('erased', true),
    file_url = CASE WHEN file_url IS NULL THEN NULL ELSE '[erased]' END,
    error_message = CASE WHEN error_message IS NULL THEN NULL ELSE '[erased]' END
WHERE export_id = ANY(%(export_ids)s::text[]);

-- name: erase_holds
-- The same for the holds' read table (its user id only).
UPDATE export_holds SET user_id = %(user_id)s WHERE export_id = ANY(%(export_ids)s::text[]);

-- name: privacy_counts
-- Erased subjects, and clear copies of personal data left in events stored before
-- fields were sealed (events of erased exports without a subject).
SELECT (SELECT count(*) FROM subject_keys WHERE erased_at IS NOT NULL) AS erased_subjects,
       (SELECT count(*) FROM {events} AS e JOIN erased_exports AS x
            ON x.aggregate_id = e.originator_id
        WHERE NOT convert_from(e.state, 'UTF8')::jsonb ? 'subject') AS clear_events;

-- name: subject_exports_since
-- The exports first recorded after a log position whose events are sealed under a
-- subject's key (their created events name the subject's pseudonym in the clear).
SELECT DISTINCT convert_from(state, 'UTF8')::jsonb ->> 'export_id' AS export_id
FROM {events}
WHERE notification_id > %(after)s
  AND topic = ANY(%(topics)s::text[])
  AND convert_from(state, 'UTF8')::jsonb ->> 'subject' = %(subject)s
ORDER BY 1;

-- name: projected_position
-- The log position export_logs (and its versions) include.
SELECT coalesce((SELECT position FROM read_model_tracking WHERE table_name = 'export_logs'), 0)
    AS position;

-- name: clear_claims
-- Idempotency claims stored before claims were keyed: their keys are in the clear.
SELECT count(*) AS claims FROM {events}
WHERE topic = %(topic)s AND NOT convert_from(state, 'UTF8')::jsonb ? 'keyed';

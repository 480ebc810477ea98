-- A new export's key stored in the transaction of the events sealed under it.
--
-- A command that records an export's first event makes the export's key in the
-- writer's process and seals the event's fields under it; these functions store that
-- key (export_keys, sql/migrations/0014_export_keys.sql) and then the events, in one
-- statement that is its own transaction: the key and the events commit together or
-- not at all, and a command costs no round trip and no commit of its own for its key
-- (with group commit, a batch's keys share its one transaction).
--
-- A key is stored only for a subject whose key is live, the subject's subject_keys
-- row share-locked until the commit, as sql/queries/export_keys.sql makes keys: an
-- erasure takes that row's lock exclusively, so it waits for this transaction and
-- then destroys this key too, or went first and this one finds the subject erased.
-- The subjects' rows are locked before the events table (always in that order), so
-- this never waits on a subject while it holds the events' lock.
--
-- When any key cannot be stored as given (its subject is erased or has no key, or
-- the export has a key already) nothing is stored, and the error is SQLSTATE 23K01
-- (class 23, an integrity violation): the writer then makes its keys one by one, as
-- before these functions, and gets the reason (domain/ledger/writes.py).
--
-- SECURITY INVOKER: the writer's own INSERT on export_keys and its share lock on
-- subject_keys, as when it makes a key alone.
CREATE OR REPLACE FUNCTION export_ledger_store_export_keys(
    key_ids uuid[], key_subjects text[], keys bytea[]
) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path FROM CURRENT AS $$
DECLARE
    stored bigint;
BEGIN
    WITH live AS (
        SELECT subject FROM subject_keys
        WHERE subject = ANY(key_subjects) AND key IS NOT NULL
        ORDER BY subject
        FOR SHARE
    )
    INSERT INTO export_keys (aggregate_id, subject, key)
    SELECT w.aggregate_id, w.subject, w.key
    FROM unnest(key_ids, key_subjects, keys) AS w(aggregate_id, subject, key)
    JOIN live USING (subject)
    ON CONFLICT (aggregate_id) DO NOTHING;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored <> cardinality(key_ids) THEN
        RAISE EXCEPTION 'export keys not stored: % of %', stored, cardinality(key_ids)
            USING ERRCODE = '23K01';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION export_ledger_insert_events_keyed(
    ids uuid[], versions bigint[], topics text[], states bytea[],
    key_ids uuid[], key_subjects text[], keys bytea[]
) RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY INVOKER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM export_ledger_store_export_keys(key_ids, key_subjects, keys);
    RETURN QUERY SELECT * FROM export_ledger_insert_events(ids, versions, topics, states);
END
$$;

-- The same for a command's one event and its export's key.
CREATE OR REPLACE FUNCTION export_ledger_insert_event_keyed(
    id uuid, version bigint, topic text, state bytea, key_subject text, key bytea
) RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM export_ledger_store_export_keys(ARRAY[id], ARRAY[key_subject], ARRAY[key]);
    RETURN export_ledger_insert_event(id, version, topic, state);
END
$$;

REVOKE ALL ON FUNCTION export_ledger_store_export_keys(uuid[], text[], bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION export_ledger_insert_events_keyed(
    uuid[], bigint[], text[], bytea[], uuid[], text[], bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION export_ledger_insert_event_keyed(uuid, bigint, text, bytea, text, bytea)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION export_ledger_store_export_keys(uuid[], text[], bytea[])
    TO export_ledger_writer;
GRANT EXECUTE ON FUNCTION export_ledger_insert_events_keyed(
    uuid[], bigint[], text[], bytea[], uuid[], text[], bytea[]) TO export_ledger_writer;
GRANT EXECUTE ON FUNCTION export_ledger_insert_event_keyed(uuid, bigint, text, bytea, text, bytea)
    TO export_ledger_writer;

-- A command's events in one statement: the EXCLUSIVE lock (through
-- export_ledger_lock_events(), sql/migrations/0002_event_store_guard.sql), the
-- NOTIFY and the INSERT, returning each event's notification id in the order
-- given. Sent in autocommit, the statement is its own transaction, so a
-- command costs one round trip and the lock is held through the commit (commit
-- order stays notification-id order: projections/readmodel/follower.py).
--
-- SECURITY INVOKER: the INSERT runs with the caller's privileges (the writer's
-- INSERT and SELECT), so this widens nothing; only the lock goes through the
-- owner's function, as before. The lock timeout is the caller's session
-- setting (the recorder sets it once per connection).
CREATE OR REPLACE FUNCTION export_ledger_insert_events(
    ids uuid[], versions bigint[], topics text[], states bytea[]
) RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY INVOKER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM export_ledger_lock_events();
    NOTIFY exportledger_events;
    RETURN QUERY
        INSERT INTO exportledger_events (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id;
END
$$;

REVOKE ALL ON FUNCTION export_ledger_insert_events(uuid[], bigint[], text[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION export_ledger_insert_events(uuid[], bigint[], text[], bytea[])
    TO export_ledger_writer;

-- The same for a command's one event (most commands record one): scalar
-- parameters cost the client less to send than four one-element arrays.
CREATE OR REPLACE FUNCTION export_ledger_insert_event(
    id uuid, version bigint, topic text, state bytea
) RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER SET search_path FROM CURRENT AS $$
DECLARE
    assigned bigint;
BEGIN
    PERFORM export_ledger_lock_events();
    NOTIFY exportledger_events;
    INSERT INTO exportledger_events (originator_id, originator_version, topic, state)
        VALUES (id, version, topic, state)
        RETURNING notification_id INTO assigned;
    RETURN assigned;
END
$$;

REVOKE ALL ON FUNCTION export_ledger_insert_event(uuid, bigint, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION export_ledger_insert_event(uuid, bigint, text, bytea)
    TO export_ledger_writer;

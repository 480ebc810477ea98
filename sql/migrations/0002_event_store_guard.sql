-- The stored-events table is append-only. The library creates it (with the
-- name "exportledger_events") before these files run.

CREATE OR REPLACE FUNCTION export_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'export ledger: % on % is refused: stored events are append-only',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'record a new event instead of changing an old one';
END
$$;

CREATE OR REPLACE TRIGGER exportledger_events_refuse_update
    BEFORE UPDATE ON exportledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION export_ledger_refuse_change();
CREATE OR REPLACE TRIGGER exportledger_events_refuse_delete
    BEFORE DELETE ON exportledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION export_ledger_refuse_change();
CREATE OR REPLACE TRIGGER exportledger_events_refuse_truncate
    BEFORE TRUNCATE ON exportledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION export_ledger_refuse_change();

-- Writers serialise on an EXCLUSIVE table lock, so commit order equals
-- notification-id order (see projections/readmodel/follower.py). LOCK TABLE in that mode
-- needs UPDATE, DELETE or TRUNCATE privilege, which the writer must not have,
-- so the lock is taken by this owner-defined function instead.
CREATE OR REPLACE FUNCTION export_ledger_lock_events() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    LOCK TABLE exportledger_events IN EXCLUSIVE MODE;
END
$$;

REVOKE ALL ON exportledger_events FROM PUBLIC;
REVOKE ALL ON FUNCTION export_ledger_lock_events() FROM PUBLIC;
GRANT SELECT, INSERT ON exportledger_events TO export_ledger_writer;
GRANT USAGE ON SEQUENCE exportledger_events_notification_id_seq TO export_ledger_writer;
GRANT EXECUTE ON FUNCTION export_ledger_lock_events() TO export_ledger_writer;
GRANT SELECT ON exportledger_events TO export_ledger_projector, export_ledger_admin;

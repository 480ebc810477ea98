-- Retention by crypto-shredding (domain/ledger/retention.py).
--
-- Storing an export's RetentionApplied event destroys the export's own key
-- (export_keys, sql/migrations/0014_export_keys.sql) in the same transaction, on
-- every path that inserts events (the one-event and many-event functions of
-- 0008_insert_events_function.sql, the import's bulk COPY): a rolled-back insert
-- keeps the key, a committed one leaves no way to open the export's fields. An
-- export sealed before export keys existed has no row, and nothing changes.
--
-- The topic is domain/topics.py's RETENTION_APPLIED, fixed for good. The WHEN
-- clause is checked without calling the function, so other events cost nothing.
-- SECURITY INVOKER: the writer, who inserts events, may update these columns.
CREATE OR REPLACE FUNCTION export_ledger_shed_export_key() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE export_keys SET key = NULL, shed_at = now()
    WHERE aggregate_id = NEW.originator_id AND key IS NOT NULL;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION export_ledger_shed_export_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION export_ledger_shed_export_key() TO export_ledger_writer;

CREATE OR REPLACE TRIGGER exportledger_events_shed_export_key
    AFTER INSERT ON exportledger_events
    FOR EACH ROW WHEN (NEW.topic = 'domain.model:ExportLog.RetentionApplied')
    EXECUTE FUNCTION export_ledger_shed_export_key();

-- The tables `rebuild --as-of --into` made (projections/readmodel/history.py): a
-- retention sheds their rows too, as it sheds export_logs' and export_log_versions'
-- (projections/readmodel/shedding.py). A table dropped since is skipped.
CREATE TABLE IF NOT EXISTS read_model_snapshots (
    name text PRIMARY KEY,
    as_of timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON read_model_snapshots FROM PUBLIC;
GRANT SELECT ON read_model_snapshots TO export_ledger_projector, export_ledger_admin;

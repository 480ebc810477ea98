-- The tables `rebuild --as-of T --into TABLE` wrote (projections/readmodel/history.py):
-- copies of export_logs as it stood at T, outside the projection. A retention sheds an
-- export's fields from each of them too, so they are listed here when written; one
-- dropped by hand since is skipped.

CREATE TABLE IF NOT EXISTS snapshot_tables (
    table_name text PRIMARY KEY,
    as_of timestamptz NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON snapshot_tables FROM PUBLIC;
GRANT SELECT ON snapshot_tables TO export_ledger_projector, export_ledger_admin;

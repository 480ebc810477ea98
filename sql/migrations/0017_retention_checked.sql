-- What the last retention run decided of each export it did not shed, so that the
-- next run reads again only the exports that could have changed its answer
-- (domain/ledger/retention.py, projections/readmodel/retention.py).
--
-- A decision is a pure function of an export's own events and of the policies in
-- force, and "due" compares its due time with the clock. So a row holds the export's
-- version and the policies' version it was decided on, and when it falls due
-- (due_at NULL: no policy applies). A run skips an export whose row has both versions
-- current and a due time still ahead; an event recorded since, a policy set or
-- removed, or the due time passing makes it read the export again. Held exports are
-- not remembered (a hold may be released at any time), nor is anything by a dry run.
-- The rows name exports by id and hold times only: no personal data, nothing for an
-- erasure to shed. They are a cache: deleting them all only costs the next run time.

CREATE TABLE IF NOT EXISTS retention_checked (
    aggregate_id uuid PRIMARY KEY,
    export_version bigint NOT NULL CHECK (export_version >= 1),
    policies_version bigint NOT NULL CHECK (policies_version >= 0),
    due_at timestamptz
);

REVOKE ALL ON retention_checked FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON retention_checked TO export_ledger_projector;
GRANT SELECT ON retention_checked TO export_ledger_admin;

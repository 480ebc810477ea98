-- export_holds: the legal holds of exports, open and released, folded from the
-- HoldPlaced and HoldReleased events by the projection (projections/readmodel/holds.py),
-- in the same transaction as export_logs. Keyed by hold id and written
-- idempotently, so folding an event twice (a rebuild's catch-up) changes
-- nothing. Lists filter on it (on_hold); the events decide every command.

CREATE TABLE IF NOT EXISTS export_holds (
    hold_id text PRIMARY KEY,
    export_id text NOT NULL,
    user_id text NOT NULL,
    matter text NOT NULL,
    reason text,
    placed_by text NOT NULL,
    placed_at timestamptz NOT NULL,
    released_by text,
    released_at timestamptz,
    position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS export_holds_open_idx ON export_holds (export_id)
    WHERE released_at IS NULL;

ALTER TABLE export_holds ENABLE ROW LEVEL SECURITY;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'export_holds') THEN
        CREATE POLICY export_holds_select_own ON export_holds FOR SELECT
            TO export_ledger_reader
            USING (user_id = current_setting('export_ledger.user_id', true));
        CREATE POLICY export_holds_admin_all ON export_holds FOR SELECT
            TO export_ledger_admin USING (true);
        CREATE POLICY export_holds_projector_all ON export_holds FOR ALL
            TO export_ledger_projector USING (true) WITH CHECK (true);
    END IF;
END
$$;
REVOKE ALL ON export_holds FROM PUBLIC;
GRANT SELECT ON export_holds TO export_ledger_reader, export_ledger_admin;
GRANT SELECT, INSERT, UPDATE ON export_holds TO export_ledger_projector;

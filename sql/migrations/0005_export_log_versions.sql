-- export_log_versions: every version an export_logs row has had, for
-- point-in-time reads ("which exports did user U have on 3 March at 14:00?").
--
-- One row per event that leaves the export in the table: the export_logs row
-- after that event, valid from the event's log position and time
-- (valid_from, valid_from_time) until the export's next event (valid_to,
-- valid_to_time; NULL while it is the current version). A Deleted event opens
-- no version; it only closes the last one, so a deleted export is still
-- listed as of any time before its deletion. The open versions are exactly
-- the export_logs rows.
--
-- Written only by the projection (projections/readmodel/store.py), in the same
-- transaction as export_logs and its tracking row ('export_logs' in
-- read_model_tracking): the two tables always stand at the same position.
-- The rebuild checks the open versions against a rebuilt export_logs; it
-- rebuilds this table too (a shadow of both, swapped in one transaction)
-- when they differ or when asked with --history.

CREATE OR REPLACE FUNCTION export_ledger_create_versions_table(target text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($t$
        CREATE TABLE IF NOT EXISTS %I (
            id uuid NOT NULL,
            export_id text NOT NULL,
            user_id text NOT NULL,
            "timestamp" timestamptz NOT NULL,
            format text NOT NULL CHECK (format IN ('json', 'jsonl', 'csv', 'markdown')),
            config jsonb NOT NULL,
            conversation_count integer NOT NULL CHECK (conversation_count >= 0),
            file_size bigint CHECK (file_size >= 0),
            status text NOT NULL
                CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'expired')),
            file_url text,
            expires_at timestamptz,
            error_message text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version bigint NOT NULL,
            position bigint NOT NULL,
            valid_from bigint NOT NULL,
            valid_from_time timestamptz NOT NULL,
            valid_to bigint CHECK (valid_to > valid_from),
            valid_to_time timestamptz,
            CHECK ((valid_to IS NULL) = (valid_to_time IS NULL)),
            PRIMARY KEY (id, version)
        )$t$, target);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', target);
    -- As export_logs: a user reads only their own versions, an admin all of
    -- them, and only the projector writes.
    EXECUTE format($p$CREATE POLICY versions_select_own ON %I FOR SELECT
        TO export_ledger_reader
        USING (user_id = current_setting('export_ledger.user_id', true))$p$, target);
    EXECUTE format($p$CREATE POLICY versions_admin_all ON %I FOR SELECT
        TO export_ledger_admin USING (true)$p$, target);
    EXECUTE format($p$CREATE POLICY versions_projector_all ON %I FOR ALL
        TO export_ledger_projector USING (true) WITH CHECK (true)$p$, target);
    EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', target);
    EXECUTE format('GRANT SELECT ON %I TO export_ledger_reader, export_ledger_admin', target);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO export_ledger_projector',
                   target);
END
$$;

-- The as-of list walks the list's keyset order ("timestamp", export_id, newest
-- first), for one user or for all, from the moment asked for down, and skips
-- the versions not valid then; an export has a handful of versions, so a page
-- reads a few times its size. The validity and the filtered columns are in
-- the indexes so that the capped count is an index-only scan. The primary key
-- serves the projection's closing of an export's open version.
CREATE OR REPLACE FUNCTION export_ledger_index_versions_table(target text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I '
                   '(user_id, "timestamp" DESC, export_id DESC, valid_from_time) '
                   'INCLUDE (valid_to_time, status, format)',
                   target || '_user_as_of_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I '
                   '("timestamp" DESC, export_id DESC, valid_from_time) '
                   'INCLUDE (valid_to_time, status, format)',
                   target || '_as_of_idx', target);
END
$$;

-- Put a rebuilt shadow in the live table's place (called by the rebuild in
-- the transaction that swaps export_logs; the tracking row is that table's).
CREATE OR REPLACE FUNCTION export_ledger_swap_versions_table(shadow text, live text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text;
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', live);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', shadow, live);
    FOR name IN
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass(quote_ident(live)) AND c.relname LIKE shadow || '%'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', name,
                       live || substr(name, length(shadow) + 1));
    END LOOP;
    FOR name IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = to_regclass(quote_ident(live)) AND contype = 'c'
          AND conname LIKE shadow || '%'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I',
                       live, name, live || substr(name, length(shadow) + 1));
    END LOOP;
END
$$;

DO $$
BEGIN
    IF to_regclass('export_log_versions') IS NULL THEN
        PERFORM export_ledger_create_versions_table('export_log_versions');
        -- A database folded before this table existed: its current rows are the
        -- open versions. The versions before them come with the next
        -- 'export-ledger rebuild --history' (until then 'rebuild --check
        -- --history' reports them).
        INSERT INTO export_log_versions
        SELECT l.*, l.position, l.updated_at, NULL, NULL FROM export_logs AS l;
    END IF;
    PERFORM export_ledger_index_versions_table('export_log_versions');
END
$$;

-- The export_logs read table: a projection of the event log, never written by
-- commands. A function creates it (and the rebuild's shadow copies) so every
-- copy has the same columns, row-level security, policies and grants.
-- Each batch the projection folds moves the table's row in read_model_tracking
-- and notifies the channel export_logs_projected with 'table:position'.

CREATE TABLE IF NOT EXISTS read_model_tracking (
    table_name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON read_model_tracking FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON read_model_tracking TO export_ledger_projector;
GRANT SELECT ON read_model_tracking TO export_ledger_reader, export_ledger_admin;

CREATE OR REPLACE FUNCTION export_ledger_create_read_table(target text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($t$
        CREATE TABLE IF NOT EXISTS %I (
            id uuid PRIMARY KEY,
            export_id text NOT NULL UNIQUE,
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
            position bigint NOT NULL
        )$t$, target);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', target);
    -- The seed's three policies: a user sees, inserts and updates only their own rows.
    EXECUTE format($p$CREATE POLICY export_logs_select_own ON %I FOR SELECT
        TO export_ledger_reader
        USING (user_id = current_setting('export_ledger.user_id', true))$p$, target);
    EXECUTE format($p$CREATE POLICY export_logs_insert_own ON %I FOR INSERT
        TO export_ledger_reader
        WITH CHECK (user_id = current_setting('export_ledger.user_id', true))$p$, target);
    EXECUTE format($p$CREATE POLICY export_logs_update_own ON %I FOR UPDATE
        TO export_ledger_reader
        USING (user_id = current_setting('export_ledger.user_id', true))
        WITH CHECK (user_id = current_setting('export_ledger.user_id', true))$p$, target);
    EXECUTE format($p$CREATE POLICY export_logs_admin_all ON %I FOR SELECT
        TO export_ledger_admin USING (true)$p$, target);
    EXECUTE format($p$CREATE POLICY export_logs_projector_all ON %I FOR ALL
        TO export_ledger_projector USING (true) WITH CHECK (true)$p$, target);
    EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', target);
    -- Only the projection writes rows; readers only read, under the policies.
    EXECUTE format('GRANT SELECT ON %I TO export_ledger_reader, export_ledger_admin', target);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO export_ledger_projector',
                   target);
END
$$;

-- The seed's secondary indexes, plus the keyset indexes of the list queries
-- (newest first: all, a user's, a status's). Built after a bulk load for speed.
CREATE OR REPLACE FUNCTION export_ledger_index_read_table(target text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (user_id)', target || '_user_id_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I ("timestamp" DESC)',
                   target || '_timestamp_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (status)', target || '_status_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (format)', target || '_format_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (expires_at)',
                   target || '_expires_at_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (user_id, "timestamp" DESC, export_id DESC)',
                   target || '_user_keyset_idx', target);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I ("timestamp" DESC, export_id DESC)',
                   target || '_keyset_idx', target);
    -- Lists by status, newest first, and their capped counts (index-only).
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (status, "timestamp" DESC, export_id DESC)',
                   target || '_status_keyset_idx', target);
END
$$;

DO $$
BEGIN
    IF to_regclass('export_logs') IS NULL THEN
        PERFORM export_ledger_create_read_table('export_logs');
    END IF;
    PERFORM export_ledger_index_read_table('export_logs');
END
$$;
INSERT INTO read_model_tracking (table_name) VALUES ('export_logs') ON CONFLICT DO NOTHING;

-- Put a rebuilt shadow table in the live table's place, in the caller's
-- (short) transaction: the old table goes, the shadow takes its name, its
-- indexes, its constraint names and its tracking position.
CREATE OR REPLACE FUNCTION export_ledger_swap_read_table(shadow text, live text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    idx text;
BEGIN
    EXECUTE format('DROP TABLE %I', live);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', shadow, live);
    FOR idx IN
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass(quote_ident(live)) AND c.relname LIKE shadow || '%'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx, live || substr(idx, length(shadow) + 1));
    END LOOP;
    FOR idx IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = to_regclass(quote_ident(live)) AND contype = 'c'
          AND conname LIKE shadow || '%'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I',
                       live, idx, live || substr(idx, length(shadow) + 1));
    END LOOP;
    UPDATE read_model_tracking AS t
    SET position = s.position, updated_at = now()
    FROM read_model_tracking AS s
    WHERE t.table_name = live AND s.table_name = shadow;
    DELETE FROM read_model_tracking WHERE table_name = shadow;
END
$$;

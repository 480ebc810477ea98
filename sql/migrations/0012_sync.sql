-- Live sync from another system's table by logical decoding (projections/importing/).
-- sync_positions: per replication slot, how far the follower has recorded the
-- source's changes: the commit end LSN of the last transaction it took in and how
-- many of that transaction's changes (done: all of them). It is written in the
-- same transaction as the events those changes recorded, so a crash never records
-- a change twice or loses one; the slot is advanced only after that commit.
-- sync_source_ids: the source's row id to the export it is (a delete carries only
-- the id). sync_diverged: exports whose latest change was refused, with the reason.
CREATE TABLE IF NOT EXISTS sync_positions (
    slot_name text PRIMARY KEY,
    source_table text NOT NULL,
    publication text NOT NULL,
    created_publication boolean NOT NULL,
    phase text NOT NULL CHECK (phase IN ('importing', 'following')),
    end_lsn pg_lsn NOT NULL,
    ordinal integer NOT NULL,
    done boolean NOT NULL,
    committed_at timestamptz,
    applied_at timestamptz,
    lag_bytes bigint,
    wal_status text,
    changes_applied bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sync_source_ids (
    slot_name text NOT NULL,
    source_id text NOT NULL,
    export_id text NOT NULL,
    PRIMARY KEY (slot_name, source_id)
);

CREATE TABLE IF NOT EXISTS sync_diverged (
    slot_name text NOT NULL,
    export_id text NOT NULL,
    source_id text NOT NULL,
    end_lsn pg_lsn NOT NULL,
    ordinal integer NOT NULL,
    source_status text,
    ledger_status text,
    reason text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slot_name, export_id)
);

REVOKE ALL ON sync_positions, sync_source_ids, sync_diverged FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync_positions, sync_source_ids, sync_diverged
    TO export_ledger_writer;
GRANT SELECT ON sync_positions, sync_source_ids, sync_diverged TO export_ledger_admin;
GRANT SELECT ON sync_positions TO export_ledger_reader;

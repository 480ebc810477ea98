-- C2SP checkpoints and witness cosignatures (domain/tlog/merkle.py, domain/tlog/notes.py).
-- A checkpoint with an origin is a C2SP signed note whose text is built from its
-- columns and the origin, and whose signature is over that text; one without
-- (signed before this migration) keeps the first format, 'export-ledger
-- checkpoint v1'. Every checkpoint of a log has the same origin.
ALTER TABLE ledger_checkpoints ADD COLUMN IF NOT EXISTS origin text
    CHECK (origin ~ '^[^[:space:]+]+$');

-- A witness's cosignature (c2sp.org/tlog-cosignature, type 0x04) of a checkpoint:
-- key_id is its 4-byte note key id, cosigned_at the time it signed (POSIX seconds),
-- signature the 64-byte Ed25519 signature over 'cosignature/v1', the time and the
-- checkpoint's note text. Written by the sealer as export_ledger_projector.
CREATE TABLE IF NOT EXISTS ledger_cosignatures (
    tree_size bigint NOT NULL REFERENCES ledger_checkpoints (tree_size),
    witness text NOT NULL CHECK (witness ~ '^[^[:space:]+]+$'),
    key_id bytea NOT NULL CHECK (length(key_id) = 4),
    cosigned_at bigint NOT NULL CHECK (cosigned_at >= 0),
    signature bytea NOT NULL CHECK (length(signature) = 64),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tree_size, witness, key_id)
);
CREATE INDEX IF NOT EXISTS ledger_cosignatures_witness
    ON ledger_cosignatures (witness, key_id, tree_size);

DO $$
DECLARE
    op text;
BEGIN
    FOREACH op IN ARRAY ARRAY['update', 'delete', 'truncate'] LOOP
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER %I BEFORE %s ON ledger_cosignatures '
            'FOR EACH STATEMENT EXECUTE FUNCTION export_ledger_refuse_change()',
            'ledger_cosignatures_refuse_' || op, upper(op));
    END LOOP;
END
$$;
REVOKE ALL ON ledger_cosignatures FROM PUBLIC;
GRANT SELECT, INSERT ON ledger_cosignatures TO export_ledger_projector;
GRANT SELECT ON ledger_cosignatures TO export_ledger_reader, export_ledger_admin;

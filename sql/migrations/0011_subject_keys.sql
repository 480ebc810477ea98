-- Crypto-shredding (domain/privacy.py): each data subject's key, outside the events.
--
-- subject_keys: one AES-256 key per subject, by the subject's keyed pseudonym. An
-- erasure sets the key to NULL (and erased_at); the row stays so that a missing key
-- of a subject never erased can be told apart from an erased one. Writers make keys
-- and erase them; the projector and admins read them (to fold and verify); the
-- reader role, which serves the users' own reads, cannot read this table at all.
-- erased_exports: the exports of erased subjects, so that events stored before
-- fields were sealed (clear) are shown erased too.
-- ledger_subject_secret: the HMAC secret of the pseudonyms, made once here.

CREATE TABLE IF NOT EXISTS subject_keys (
    subject text PRIMARY KEY,
    key bytea CHECK (key IS NULL OR length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);

CREATE TABLE IF NOT EXISTS erased_exports (
    aggregate_id uuid PRIMARY KEY,
    subject text NOT NULL,
    erased_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ledger_subject_secret (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret bytea NOT NULL CHECK (length(secret) >= 32)
);
INSERT INTO ledger_subject_secret (secret)
VALUES (decode(replace(gen_random_uuid()::text, '-', '')
               || replace(gen_random_uuid()::text, '-', ''), 'hex'))
ON CONFLICT (id) DO NOTHING;

REVOKE ALL ON subject_keys, erased_exports, ledger_subject_secret FROM PUBLIC;
GRANT SELECT, INSERT ON subject_keys, erased_exports TO export_ledger_writer;
GRANT UPDATE (key, erased_at) ON subject_keys TO export_ledger_writer;
GRANT SELECT ON ledger_subject_secret TO export_ledger_writer, export_ledger_admin;
GRANT SELECT ON subject_keys, erased_exports TO export_ledger_projector, export_ledger_admin;

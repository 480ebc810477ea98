-- Retention by crypto-shredding, per export (domain/privacy.py).
--
-- export_keys: one AES-256 key per export, beside the subject keys and not wrapped by
-- them (a wrapped key stored next to its wrapping key protects nothing). The export's
-- own fields (domain/privacy.py's EXPORT_SEALED_FIELDS) are sealed under it; user_id
-- and actor stay under the subject's key. A retention sets the key to NULL and
-- shed_at; an erasure of the subject sets it to NULL and erased_at, with the subject's
-- own key, in one statement under the subject's lock. The row stays, so a shed or
-- erased key can be told apart from a missing one.

CREATE TABLE IF NOT EXISTS export_keys (
    aggregate_id uuid PRIMARY KEY,
    subject text NOT NULL,
    key bytea CHECK (key IS NULL OR length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    shed_at timestamptz,
    erased_at timestamptz,
    CHECK ((key IS NULL) = (shed_at IS NOT NULL OR erased_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS export_keys_subject_idx ON export_keys (subject);

REVOKE ALL ON export_keys FROM PUBLIC;
GRANT SELECT, INSERT ON export_keys TO export_ledger_writer;
GRANT UPDATE (key, shed_at, erased_at) ON export_keys TO export_ledger_writer;
GRANT SELECT ON export_keys TO export_ledger_projector, export_ledger_admin;

-- Roles are cluster-wide: create each once, tolerating a concurrent creator.
-- They cannot log in; connections take them on with "SET ROLE" (or the
-- "role" startup option), so the URL's user must be a member.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY[
        'export_ledger_writer',     -- commands: INSERT and SELECT on stored events
        'export_ledger_projector',  -- the follower and rebuild: write the read table
        'export_ledger_reader',     -- user queries, under row-level security
        'export_ledger_admin'       -- admin queries: every row
    ] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', r, current_user);
        END IF;
    END LOOP;
END
$$;

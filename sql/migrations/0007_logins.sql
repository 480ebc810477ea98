-- The runtime's logins: one LOGIN role per least-privilege role, a member of
-- that role only, owning nothing, so a runtime connection that says RESET ROLE
-- gets no more than it had (the roles of 0001 cannot log in, and the owner who
-- migrates is never what the API, the follower, the sealer or a read log in as).
-- Created only when the migrating user may create roles; otherwise an operator
-- creates them as README.md ("Database logins") shows. Passwords are never set
-- here: the logins authenticate as the server's pg_hba.conf says (trust, peer,
-- cert, or a password the operator gives them).
DO $$
DECLARE
    r text;
BEGIN
    IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        RAISE NOTICE 'export ledger: % may not create roles; create the runtime logins by hand',
            current_user;
        RETURN;
    END IF;
    FOREACH r IN ARRAY ARRAY[
        'export_ledger_writer',
        'export_ledger_projector',
        'export_ledger_reader',
        'export_ledger_admin'
    ] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                           'NOREPLICATION NOBYPASSRLS', r || '_login');
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        IF NOT pg_has_role(r || '_login', r, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', r, r || '_login');
        END IF;
    END LOOP;
END
$$;

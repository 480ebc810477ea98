-- Queries that make and migrate the database (api/wiring/database.py).
-- {database} and {template} are identifiers filled in with
-- psycopg.sql.Identifier: CREATE DATABASE takes no parameter.

-- name: database_exists
-- Whether a database of this name exists on the server.
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: create_database
-- A new, empty database.
CREATE DATABASE {database};

-- name: create_database_from
-- A new database as a copy of another (a template).
CREATE DATABASE {database} TEMPLATE {template};

-- name: take_migration_lock
-- Wait for the session-level lock that lets one migrator in at a time.
SELECT pg_advisory_lock(%(key)s);

-- name: release_migration_lock
-- Let the next migrator in.
SELECT pg_advisory_unlock(%(key)s);

-- name: read_only
-- Whether this session may not write: a standby in recovery, or read-only by default.
SELECT current_setting('transaction_read_only') = 'on' AS read_only;

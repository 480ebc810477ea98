-- Queries on the source database of a live sync (projections/importing/logical.py).
-- {table}, {publication} and {slot} are identifiers; every value is a parameter.

-- name: wal_level
-- Logical decoding needs wal_level = logical.
SELECT current_setting('wal_level');

-- name: may_replicate
-- Whether the login may open replication connections: REPLICATION, superuser, or a
-- provider's equivalent (membership of rds_replication).
SELECT r.rolsuper OR r.rolreplication OR coalesce(
    (SELECT pg_has_role(current_user, g.oid, 'MEMBER') FROM pg_roles AS g
     WHERE g.rolname = 'rds_replication'), false)
FROM pg_roles AS r WHERE r.rolname = current_user;

-- name: free_slots
-- Replication slots and WAL senders still free (a new slot needs one of each).
SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots),
    current_setting('max_wal_senders')::int - (SELECT count(*) FROM pg_stat_replication);

-- name: table_identity
-- The table's schema and name, replica identity, whether the login owns it, and whether
-- its identity holds the id column (a delete sends only the identity's columns).
SELECT n.nspname, c.relname, c.relreplident, pg_has_role(current_user, c.relowner, 'USAGE'),
    EXISTS (
        SELECT 1 FROM pg_index AS i
        JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = c.oid AND a.attname = 'id'
            AND ((c.relreplident = 'd' AND i.indisprimary)
                OR (c.relreplident = 'i' AND i.indisreplident))
    )
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%(table)s);

-- name: publication_of
-- A publication: what it publishes, and whether it has the table.
SELECT p.pubinsert, p.pubupdate, p.pubdelete, EXISTS (
    SELECT 1 FROM pg_publication_tables AS t
    WHERE t.pubname = p.pubname AND t.schemaname = %(schema)s AND t.tablename = %(name)s)
FROM pg_publication AS p WHERE p.pubname = %(publication)s;

-- name: create_publication
-- The follow's own publication of the table (TRUNCATE is not followed).
CREATE PUBLICATION {publication} FOR TABLE {table} WITH (publish = 'insert, update, delete');

-- name: drop_publication
-- The follow's own publication, when its slot is dropped.
DROP PUBLICATION IF EXISTS {publication};

-- name: slot_state
-- The slot's confirmed position and WAL status (no row: no such slot).
SELECT confirmed_flush_lsn::text, wal_status, safe_wal_size, active, plugin
FROM pg_replication_slots WHERE slot_name = %(slot)s;

-- name: create_slot
-- On a replication connection: the slot, and a snapshot of the commits before it.
CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput (SNAPSHOT 'export');

-- name: drop_slot
-- The follow's slot (it must not be in use).
SELECT pg_drop_replication_slot(%(slot)s);

-- name: flush_lsn
-- How far the source's WAL is flushed: every commit before it can be decoded.
SELECT pg_current_wal_flush_lsn()::text;

-- name: peek_changes
-- The slot's pgoutput messages of the transactions committed before %(upto)s, not
-- consumed (the slot moves only by advance_slot, once the ledger has them).
SELECT lsn::text, data
FROM pg_logical_slot_peek_binary_changes(%(slot)s, %(upto)s::pg_lsn, %(count)s,
    'proto_version', '1', 'publication_names', %(publications)s);

-- name: advance_slot
-- Move the slot past what the ledger recorded (the commit's end LSN).
SELECT pg_replication_slot_advance(%(slot)s, %(lsn)s::pg_lsn);

-- name: source_ids
-- Each source row's id and export id, read in the initial import's snapshot.
SELECT id::text, export_id::text FROM {table} WHERE id IS NOT NULL AND export_id IS NOT NULL;

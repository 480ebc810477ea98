-- event_sinks: webhook receivers of the ledger's events (projections/sinks/), and
-- event_sink_deliveries: the result of every delivery attempt. A sink's cursor is the
-- last position it acknowledged; the batch it is being sent (positions batch_first to
-- batch_last, webhook id batch_id) is stored before its first attempt, so every retry
-- sends the same events under the same webhook-id. Its secret is stored sealed
-- (AES-256-GCM) under a key kept outside the database, in the data directory as the
-- checkpoint key is: the database alone cannot sign a webhook. Writers (the CLI and the
-- admin API) manage sinks; the projector's sender delivers, holding a sink's lease.

CREATE TABLE IF NOT EXISTS event_sinks (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    url text NOT NULL CHECK (length(url) <= 2000),
    types text[] NOT NULL DEFAULT '{}',
    user_id text CHECK (length(user_id) <= 200),
    personal boolean NOT NULL DEFAULT false,
    secret_sealed bytea NOT NULL,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'failing')),
    cursor bigint NOT NULL DEFAULT 0 CHECK (cursor >= 0),
    batch_first bigint,
    batch_last bigint,
    batch_id text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    delivered_at timestamptz,
    lease_holder text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS event_sink_deliveries (
    id bigserial PRIMARY KEY,
    sink text NOT NULL REFERENCES event_sinks (name) ON DELETE CASCADE,
    webhook_id text NOT NULL,
    first_position bigint NOT NULL,
    last_position bigint NOT NULL,
    events integer NOT NULL,
    attempt integer NOT NULL,
    status integer,
    error text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_sink_deliveries_sink_idx ON event_sink_deliveries (sink, id);

REVOKE ALL ON event_sinks, event_sink_deliveries FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON event_sinks TO export_ledger_writer;
GRANT SELECT, UPDATE ON event_sinks TO export_ledger_projector;
GRANT SELECT ON event_sinks, event_sink_deliveries TO export_ledger_admin, export_ledger_writer;
GRANT SELECT, INSERT ON event_sink_deliveries TO export_ledger_projector;
GRANT USAGE ON SEQUENCE event_sink_deliveries_id_seq TO export_ledger_projector;

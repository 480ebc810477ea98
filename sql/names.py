"""Names that the SQL files and the Python code both know, kept in one place.

The migrations create these tables and roles, and say what is notified on these
channels, under the same names; ``tests/unit/test_sql_registry.py`` checks that
every name here appears in them.
"""

from __future__ import annotations

EVENTS_TABLE = "exportledger_events"
"""The event store's table (the library names it after the application)."""
EVENTS_CHANNEL = EVENTS_TABLE
"""Every committed batch of events NOTIFYs on a channel named after the events table."""
LIVE_TABLE = "export_logs"
VERSIONS_TABLE = "export_log_versions"
PROJECTED_CHANNEL = "export_logs_projected"
SEALED_CHANNEL = "ledger_sealed"
SEAL_TRACKING = "ledger_seal"
"""The sealer's row in read_model_tracking (the read tables' rows are named after them)."""

WRITER_ROLE = "export_ledger_writer"
PROJECTOR_ROLE = "export_ledger_projector"
READER_ROLE = "export_ledger_reader"
ADMIN_ROLE = "export_ledger_admin"

LOGINS = {
    WRITER_ROLE: "export_ledger_writer_login",
    PROJECTOR_ROLE: "export_ledger_projector_login",
    READER_ROLE: "export_ledger_reader_login",
    ADMIN_ROLE: "export_ledger_admin_login",
}
"""The runtime's LOGIN roles, each a member of its one role above and owner of nothing
(sql/migrations/0007_logins.sql); runtime connections log in as these, never as the owner."""

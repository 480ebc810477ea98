"""The web console under ``/ui``: server-rendered pages on the API's own auth and reads.

Pages sign in with the same bearer tokens as the API (kept in an HttpOnly,
SameSite=Strict cookie), check them with the same verifier, and read through
the same :class:`projections.reads.read_store.ReadStore` (row-level security, the user id set
per transaction) and :class:`domain.ledger.application.ExportLedger` calls as the
API routes, so a page can never show what the API would refuse.
"""

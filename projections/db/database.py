"""The ledger's database: where it is, and how each of its roles logs in.

The composition root builds one :class:`Database` and passes it down; every runtime
connection is made through it, as the least-privilege login of its role
(projections/db/logins.py). It is an address, not a pool: the pools are the
ledger's (eventsourcing) and the read store's, each built from it. Pickled for a
spawned process (parallel import, verify's fold), it carries its URLs only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from projections.db.logins import connect_login, login_conninfo
from sql.names import PROJECTOR_ROLE


@dataclass(frozen=True)
class Database:
    """``url`` is the runtime's: its host, port, database, TLS and password, whatever
    its user. The owner's URL (``owner_url``, else ``url``) is for migrations and the
    rebuild's table swaps. ``server`` keeps an embedded server alive in the process
    that started it."""

    url: str
    owner_url: str | None = None
    server: Any | None = field(default=None, compare=False, repr=False)

    @property
    def migrate_url(self) -> str:
        return self.owner_url or self.url

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def conninfo(self, role: str) -> str:
        """The connection string of ``role``'s login."""
        return login_conninfo(self.url, role)

    def connect(self, role: str, *, options: str = "", **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection as ``role``'s login that has taken on ``role``."""
        return connect_login(self.url, role, options=options, **kwargs)

    def projector(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A connection of the projector role (the read tables, the seal, tracking)."""
        return self.connect(PROJECTOR_ROLE, autocommit=autocommit)

    def owner(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection as the schema's owner."""
        return psycopg.connect(self.migrate_url, **kwargs)

    def __reduce__(self) -> tuple[type[Database], tuple[str, str | None]]:
        return (Database, (self.url, self.owner_url))  # the server stays with its process

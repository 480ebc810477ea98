"""Runtime connections log in as their role's own login, never as the schema's owner.

A URL says where the database is and how to authenticate (host, port, database,
TLS, password); :func:`login_conninfo` keeps all of that and replaces the user
with the login of a least-privilege role (:data:`sql.names.LOGINS`). Each login
is a member of its one role only and owns nothing, so ``RESET ROLE`` or
``SET ROLE`` to the owner gives a runtime connection nothing more.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from domain.exceptions import ConfigurationError
from sql.names import LOGINS


def login_conninfo(url: str, role: str) -> str:
    """``url`` as ``role``'s login: the same server, database and password, another user."""
    try:
        return make_conninfo(url, user=LOGINS[role])
    except psycopg.ProgrammingError as error:
        raise ConfigurationError(f"bad database URL: {error}") from None


def connect_login(
    url: str, role: str, *, options: str = "", **kwargs: Any
) -> psycopg.Connection[Any]:
    """A connection as ``role``'s login that has taken on ``role`` from its first statement."""
    startup = f"-c role={role} {options}".strip()
    return psycopg.connect(login_conninfo(url, role), options=startup, **kwargs)

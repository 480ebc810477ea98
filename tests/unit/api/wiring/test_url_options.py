"""Every libpq option of the database URL reaches the event store's pool too."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from api.wiring.database import LIBPQ_OPTIONS_KEY, ledger_env
from api.wiring.eventstore import Factory
from sql.names import LOGINS, WRITER_ROLE

MULTI_HOST = (
    "postgresql://anyone:secret@h1:5441,h2:5442,h3:5443/ledger"
    "?target_session_attrs=read-write&sslmode=prefer&application_name=ledger-a"
    "&connect_timeout=3&keepalives_idle=5"
)


def test_a_multi_host_url_keeps_its_hosts_and_every_option() -> None:
    env = ledger_env(MULTI_HOST)
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("h1,h2,h3", "5441,5442,5443")
    assert conninfo_to_dict(env[LIBPQ_OPTIONS_KEY]) == {
        "target_session_attrs": "read-write",
        "sslmode": "prefer",
        "application_name": "ledger-a",
        "connect_timeout": "3",
        "keepalives_idle": "5",
    }


def test_a_plain_url_carries_no_extra_options() -> None:
    assert LIBPQ_OPTIONS_KEY not in ledger_env("postgresql://u@db:5432/ledger")


def test_the_library_pool_connects_with_every_option_and_the_role() -> None:
    factory = Factory(ledger_env(MULTI_HOST))  # builds the pool; opens no connection
    kwargs = factory.datastore.pool.kwargs
    assert isinstance(kwargs, dict)
    assert kwargs["host"] == "h1,h2,h3"
    assert kwargs["port"] == "5441,5442,5443"
    assert kwargs["user"] == LOGINS[WRITER_ROLE]
    assert kwargs["target_session_attrs"] == "read-write"
    assert kwargs["sslmode"] == "prefer"
    assert kwargs["application_name"] == "ledger-a"
    assert kwargs["connect_timeout"] == "3"
    assert kwargs["options"] == f"-c role={WRITER_ROLE} -c lock_timeout=10s"

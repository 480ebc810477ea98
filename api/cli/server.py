"""CLI commands of the HTTP API: serve, token."""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.output import err, errors, fail, load_settings
from api.wiring.auth import MAX_TTL, issue_token, parse_ttl, resolve_secret, verifier_for
from api.wiring.bootstrap import bootstrap
from api.wiring.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

commands = typer.Typer()
_PROJECTOR = "EXPORT_LEDGER_SERVE_PROJECTOR"  # from serve to its workers: run the projection?


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    no_projector: Annotated[
        bool,
        typer.Option(
            "--no-projector",
            help="Do not run the projection in this process (run 'export-ledger project').",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes on the port, each with its own pools; one of them "
            "(elected by a PostgreSQL advisory lock) runs the projection.",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API; migrates first and runs the projection in-process."""
    import uvicorn

    from api.http.app import create_app

    config = load_settings()
    _can_listen(host, port)
    if workers > 1:
        _serve_workers(config, host, port, workers, projector=not no_projector)
        return
    with errors():
        verifier_for(config)  # refuse to start without a way to check tokens
        application = create_app(config, run_projector=not no_projector)
    err.print(f"serving on http://{host}:{port} (docs at /docs)", highlight=False)
    # Our request log replaces uvicorn's access log; its own lines go through our handler.
    uvicorn.run(
        application, host=host, port=port, log_level="info", log_config=None, access_log=False
    )


def _serve_workers(
    config: Settings, host: str, port: int, workers: int, *, projector: bool
) -> None:
    """``workers`` uvicorn processes, each building its app from the environment
    (:func:`worker_app`); this process migrates once first, keeps an embedded
    server alive for them, and restarts a worker that dies."""
    import uvicorn

    with errors():
        verifier_for(config)
        runtime = bootstrap(config)  # migrates; the workers do not
    os.environ[_PROJECTOR] = "1" if projector else "0"
    os.environ["EXPORT_LEDGER_PROJECTOR_ELECTION"] = "true"
    if runtime.database.embedded:
        os.environ["EXPORT_LEDGER_DATA_DIR"] = str(config.data_dir)
    err.print(f"serving on http://{host}:{port} with {workers} workers", highlight=False)
    with runtime:
        uvicorn.run(
            "api.cli.server:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            log_config=None,
            access_log=False,
        )


def worker_app() -> FastAPI:
    """The app of one ``serve --workers`` process (uvicorn imports and calls this)."""
    from api.http.app import create_app

    settings = Settings()
    run_projector = os.environ.get(_PROJECTOR, "1") == "1"
    return create_app(settings, run_projector=run_projector, run_migrations=False)


def _can_listen(host: str, port: int) -> None:
    """Fail now, in one line, when the address cannot be listened on (taken, not
    ours, no such host), rather than in uvicorn's log after migrating."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")


@commands.command()
def token(
    user: Annotated[str, typer.Option("--user", help="The user id (the token's 'sub').")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the token the admin role.")] = False,
    auditor: Annotated[
        bool, typer.Option("--auditor", help="Give the token the read-only auditor role.")
    ] = False,
    ttl: Annotated[
        str, typer.Option(help=f"Lifetime: 90s, 15m, 1h, 7d; at most {MAX_TTL.days}d.")
    ] = "1h",
) -> None:
    """Print a bearer token signed with the configured secret."""
    try:
        lifetime = parse_ttl(ttl)
    except ValueError as error:
        fail(str(error))
    config = load_settings()
    with errors():
        secret = resolve_secret(config)
        if secret is None:
            fail("no secret to sign with: set EXPORT_LEDGER_JWT_SECRET")
        signed = issue_token(
            secret,
            user,
            admin=admin,
            auditor=auditor,
            ttl=lifetime,
            audience=config.jwt_audience,
            issuer=config.jwt_issuer,
        )
    sys.stdout.write(signed + "\n")

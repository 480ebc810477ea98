"""CLI commands of the HTTP API: serve, token."""

from __future__ import annotations

import socket
import sys
from typing import Annotated

import typer

from api.cli.output import err, errors, fail, load_settings
from api.wiring.auth import MAX_TTL, issue_token, parse_ttl, resolve_secret, verifier_for

commands = typer.Typer()


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
) -> None:
    """Run the HTTP API; migrates first and runs the projection in-process."""
    import uvicorn

    from api.http.app import create_app

    config = load_settings()
    _can_listen(host, port)
    with errors():
        verifier_for(config)  # refuse to start without a way to check tokens
        application = create_app(config, run_projector=not no_projector)
    err.print(f"serving on http://{host}:{port} (docs at /docs)", highlight=False)
    # Our request log replaces uvicorn's access log; its own lines go through our handler.
    uvicorn.run(
        application, host=host, port=port, log_level="info", log_config=None, access_log=False
    )


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
            ttl=lifetime,
            audience=config.jwt_audience,
            issuer=config.jwt_issuer,
        )
    sys.stdout.write(signed + "\n")

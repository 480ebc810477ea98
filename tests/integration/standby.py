"""A throwaway PostgreSQL primary and hot standby on loopback ports, for replica tests.

The standby is made the way an operator would: ``initdb`` a primary with
``wal_level = replica``, then ``pg_basebackup -R`` (which writes the
standby's connection to the primary and its ``standby.signal``). PostgreSQL
refuses to run as root, so when the tests do, the servers run as an
unprivileged system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

_NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
_SERVICE_USER = "export-ledger-pg"
_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
hot_standby = on
hot_standby_feedback = on
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 60
"""


def server_binaries() -> Path | None:
    """A directory with the PostgreSQL server programs: the system's, else pgserver's."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    with contextlib.suppress(ImportError):
        import pgserver

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin"))
    for candidate in candidates:
        if all((Path(candidate) / name).is_file() for name in _NEEDED):
            return Path(candidate)
    return None


def _version(path: str) -> int:
    number = Path(path).parent.name
    return int(number) if number.isdigit() else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    bin: Path
    data: Path
    port: int
    user: pwd.struct_passwd | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> None:
        _run(self.bin, self.user, program, *args)

    def start(self) -> None:
        log = str(self.data / "log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def kill(self) -> None:
        """Stop at once, whatever state the server is in (clean-up after a failure)."""
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)


@contextmanager
def primary_and_standby(bin_dir: Path) -> Iterator[tuple[Server, Server]]:
    """Start a primary and a streaming hot standby of it; stop both and delete them after."""
    user = _service_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="export-ledger-replica-"))
    servers: list[Server] = []
    try:
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        primary = Server(bin_dir, root / "primary", free_port(), user)
        servers.append(primary)
        primary.run(
            "initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "--locale=C",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        _configure(primary)
        primary.start()
        standby = Server(bin_dir, root / "standby", free_port(), user)
        servers.append(standby)
        primary.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(standby.data), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        _configure(standby)
        standby.start()
        yield primary, standby
    finally:
        for server in reversed(servers):
            server.kill()
        _wait_stopped(servers)
        shutil.rmtree(root, ignore_errors=True)


def replay(standby: Server, *, paused: bool) -> None:
    """Pause or resume the standby's WAL replay: what it serves stays as it is meanwhile."""
    function = "pg_wal_replay_pause" if paused else "pg_wal_replay_resume"
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        conn.execute(f"SELECT {function}()")


def _configure(server: Server) -> None:
    """Later lines of postgresql.conf win: the standby's copy gets its own port."""
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write(_SETTINGS.format(port=server.port))


def _run(bin_dir: Path, user: pwd.struct_passwd | None, program: str, *args: str) -> None:
    cwd = "/" if user is None else user.pw_dir if os.path.isdir(user.pw_dir) else "/"
    result = subprocess.run(
        [str(bin_dir / program), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}")


def _service_user() -> pwd.struct_passwd:
    """An unprivileged system user to run the servers as (root may not)."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(_SERVICE_USER)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVICE_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(_SERVICE_USER)


def _wait_stopped(servers: list[Server]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any((server.data / "postmaster.pid").exists() for server in servers):
            return
        time.sleep(0.05)

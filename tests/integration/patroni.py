"""A throwaway Patroni cluster on loopback ports: one etcd member, three PostgreSQL nodes.

Started and stopped by the tests that need it (Debian's ``patroni`` and
``etcd-server``). The settings are the ones the README recommends for the
ledger: ``synchronous_mode`` (a commit waits for a standby), ``ttl`` 10 s,
``loop_wait`` 2 s, ``retry_timeout`` 4 s and ``primary_start_timeout`` 0, so
a crashed primary is failed over rather than restarted in place (with the
default of 300 s Patroni keeps the leader lock while it restarts it).
PostgreSQL and Patroni refuse to run as root: when the tests do, every
process runs as an unprivileged system user.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.integration.standby import free_port, server_binaries

SCOPE = "ledger"
_PARAMETERS = {
    "max_connections": 120,
    "shared_buffers": "32MB",
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_log_hints": "on",
    "max_wal_senders": 10,
    "max_replication_slots": 10,
    "synchronous_commit": "on",
    "full_page_writes": "on",
}


def patroni_programs() -> tuple[Path, Path] | None:
    """``patroni`` and ``etcd``, when both are installed."""
    found = [shutil.which(name) for name in ("patroni", "etcd")]
    if any(path is None for path in found) or server_binaries() is None:
        return None
    return Path(str(found[0])), Path(str(found[1]))


@dataclass
class Node:
    name: str
    directory: Path
    port: int
    api_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.directory / "patroni.yml"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def kill_postmaster(self) -> int:
        """SIGKILL this node's postmaster (Patroni itself lives on); its pid."""
        pid = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        return pid


@dataclass
class PatroniCluster:
    root: Path
    etcd_port: int
    nodes: list[Node] = field(default_factory=list)
    user: pwd.struct_passwd | None = None

    def url(self, database: str, attrs: str = "read-write", **options: str) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        query = "&".join(f"{k}={v}" for k, v in {"target_session_attrs": attrs, **options}.items())
        return f"postgresql://postgres@{hosts}/{database}?{query}"

    def members(self) -> list[dict[str, Any]]:
        """Patroni's view of the cluster, from any node whose REST API answers."""
        for node in self.nodes:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                answer = httpx.get(f"http://127.0.0.1:{node.api_port}/cluster", timeout=2)
                return list(answer.json().get("members", []))
        return []

    def leader(self) -> Node | None:
        for member in self.members():
            if member.get("role") == "leader" and member.get("state") == "running":
                return self.node(member["name"])
        return None

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def wait_healthy(self, timeout: float = 120, *, members: int = 3) -> Node:
        """Until a leader runs, ``members - 1`` standbys stream and one is synchronous."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.members()
            running = [m for m in found if m.get("state") in ("running", "streaming")]
            sync = [m for m in found if m.get("role") == "sync_standby"]
            leader = self.leader()
            if leader is not None and len(running) >= members and (members < 2 or sync):
                return leader
            time.sleep(0.5)
        raise RuntimeError(f"the Patroni cluster did not become healthy: {self.members()}")

    def patronictl(self, *args: str) -> str:
        result = self._run(
            ["patronictl", "-c", str(self.nodes[0].config), *args], timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"patronictl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, **_as_user(self.user), **kwargs)


@contextmanager
def patroni_cluster(nodes: int = 3, *, fsync: bool = False) -> Iterator[PatroniCluster]:
    """Start etcd and ``nodes`` Patroni nodes; kill and delete them all afterwards.
    (``fsync`` off by default: the tests kill processes, never the machine.)"""
    programs = patroni_programs()
    bin_dir = server_binaries()
    assert programs is not None and bin_dir is not None
    patroni, etcd = programs
    user = _service_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="export-ledger-patroni-"))
    cluster = PatroniCluster(root, free_port(), user=user)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        _own(root, user)
        processes.append(_start_etcd(etcd, cluster, user))
        _wait_etcd(cluster.etcd_port)
        for number in range(1, nodes + 1):
            node = Node(f"node{number}", root / f"node{number}", free_port(), free_port())
            node.directory.mkdir(mode=0o700)
            _own(node.directory, user)
            config = _config(node, cluster, bin_dir, fsync=fsync)
            node.config.write_text(json.dumps(config, indent=1))
            _own(node.config, user)
            cluster.nodes.append(node)
        for node in cluster.nodes:
            node.process = _start_patroni(patroni, node, user)
            processes.append(node.process)
            if node is cluster.nodes[0]:
                cluster.wait_healthy(members=1)
        cluster.wait_healthy(members=nodes)
        yield cluster
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        _kill_postmasters(cluster)
        shutil.rmtree(root, ignore_errors=True)


def _config(node: Node, cluster: PatroniCluster, bin_dir: Path, *, fsync: bool) -> dict[str, Any]:
    parameters = _PARAMETERS | {"fsync": "on" if fsync else "off"}
    auth = {"username": "postgres", "password": "postgres"}
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "WARNING", "dir": str(node.directory)},
        "restapi": {
            "listen": f"127.0.0.1:{node.api_port}",
            "connect_address": f"127.0.0.1:{node.api_port}",
        },
        "etcd3": {"hosts": f"127.0.0.1:{cluster.etcd_port}"},
        "bootstrap": {
            "dcs": {
                "ttl": 10,
                "loop_wait": 2,
                "retry_timeout": 4,
                "primary_start_timeout": 0,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": True,
                "postgresql": {"use_pg_rewind": True, "parameters": parameters},
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node.port}",
            "connect_address": f"127.0.0.1:{node.port}",
            "data_dir": str(node.directory / "data"),
            "bin_dir": str(bin_dir),
            "pgpass": str(node.directory / "pgpass"),
            "authentication": {
                "superuser": auth,
                "replication": {"username": "replicator", "password": "replicator"},
                "rewind": auth,
            },
            "parameters": {"unix_socket_directories": str(node.directory)},
            "pg_hba": [
                "local all all trust",
                "host replication replicator 127.0.0.1/32 trust",
                "host all all 127.0.0.1/32 trust",
            ],
        },
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def _start_etcd(
    etcd: Path, cluster: PatroniCluster, user: pwd.struct_passwd | None
) -> subprocess.Popen[bytes]:
    peer = f"http://127.0.0.1:{free_port()}"
    client = f"http://127.0.0.1:{cluster.etcd_port}"
    argv = [
        str(etcd), "--name", "etcd0", "--data-dir", str(cluster.root / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"etcd0={peer}", "--log-level", "error",
    ]  # fmt: skip
    return _spawn(argv, cluster.root / "etcd.log", user, cluster.root)


def _start_patroni(
    patroni: Path, node: Node, user: pwd.struct_passwd | None
) -> subprocess.Popen[bytes]:
    return _spawn(
        [str(patroni), str(node.config)], node.directory / "patroni.out", user, node.directory
    )


def _spawn(
    argv: list[str], log: Path, user: pwd.struct_passwd | None, home: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        _own(log, user)
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one
            env={"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C.UTF-8"},
            cwd=str(home),
            **_as_user(user),
        )


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _wait_etcd(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("etcd did not start")


def _kill_postmasters(cluster: PatroniCluster) -> None:
    """Patroni is gone; its PostgreSQL servers may not be (their own process groups)."""
    for node in cluster.nodes:
        with contextlib.suppress(OSError, ValueError):
            pid = int((node.directory / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any((node.directory / "data" / "postmaster.pid").exists() for node in cluster.nodes):
            return
        time.sleep(0.1)


def _own(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _service_user() -> pwd.struct_passwd:
    """PostgreSQL's system user when there is one, else the standby helper's."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres")
    from tests.integration.standby import _service_user as make_user

    return make_user()


def wait_writable(url: str, timeout: float = 60) -> None:
    """Until ``url`` (a multi-host URL) reaches a primary that takes writes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):
            with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row and not row[0]:
                    return
        time.sleep(0.2)
    raise RuntimeError("no writable primary")

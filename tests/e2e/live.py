"""A real uvicorn server in a thread of the test process, and the Go checker
(tests/go/tlogcheck), built once per run from Debian's Go packages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

GO_SOURCE = Path(__file__).parent.parent / "go" / "tlogcheck"
GO_PATH = Path("/usr/share/gocode")
GO_PACKAGES = GO_PATH / "src/golang.org/x/mod/sumdb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI, name: str = "test-server") -> Iterator[str]:
    """``app`` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def go_checker(directory: Path) -> Path:
    """Build tlogcheck into ``directory``; skip when Go is absent (fail in CI)."""
    go = shutil.which("go")
    if go is None or not GO_PACKAGES.is_dir():
        missing = "apt-get install golang-go golang-golang-x-mod-dev"
        if os.environ.get("CI"):
            pytest.fail(f"Go or golang.org/x/mod is missing in CI ({missing})", pytrace=False)
        pytest.skip(f"no Go toolchain with golang.org/x/mod ({missing})")
    binary = directory / "tlogcheck"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GO_PATH),
        "CGO_ENABLED": "0",
        "GOCACHE": str(directory / "cache"),
        "HOME": str(directory),
    }
    subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=GO_SOURCE, env=env, check=True, timeout=300
    )
    return binary

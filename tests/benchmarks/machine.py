"""The machine a run measured, and how busy other work kept it meanwhile."""

from __future__ import annotations

import multiprocessing
import os
import platform
import re
import time
from importlib.metadata import version
from typing import Any

import psutil
import psycopg


def machine_info(admin_url: str) -> dict[str, Any]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}".encode()).fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        }
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        postmaster = _local_postmaster(backend)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name(),
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "postgresql": settings,
        "server_is_local": postmaster is not None,
        "server_postmaster_pid": postmaster,
    }


def cpu_model() -> str:
    """The processor's model name (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def os_name() -> str:
    """The distribution's name (``/etc/os-release``) and the kernel's version number."""
    name = platform.system()
    try:
        with open("/etc/os-release") as release:
            for line in release:
                if line.startswith("PRETTY_NAME="):
                    name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    kernel = re.match(r"[\d.]*", platform.release())
    return f"{name}, {platform.system()} {kernel.group(0) if kernel else ''}".rstrip()


def describe(machine: dict[str, Any]) -> str:
    pg = machine["postgresql"]
    return (
        f"{machine['cpus']} CPUs, {machine['memory_gb']} GB, PostgreSQL {pg['server_version']} "
        f"(fsync={pg['fsync']}, synchronous_commit={pg['synchronous_commit']}), "
        f"Python {machine['python']}, eventsourcing {machine['eventsourcing']}"
    )


class OtherLoad:
    """Measures the CPU time of processes that are neither this benchmark (with
    its children) nor the PostgreSQL server it uses, when that server runs on
    this machine; reports their average use in cores. A separate process samples
    once a second, so this one's threads are not disturbed; processes that live
    less than a second are missed."""

    def __init__(self, postmaster: int | None, interval: float = 1.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._result = context.Queue()
        self._process = context.Process(
            target=_monitor,
            args=(os.getpid(), postmaster or 0, interval, self._stop, self._result),
            daemon=True,
        )
        self.cores = float("nan")

    def __enter__(self) -> OtherLoad:
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.cores = self._result.get(timeout=30)
        self._process.join(timeout=10)


def wait_until_quiet(
    postmaster: int | None, max_cores: float, give_up_seconds: float, window: float = 5.0
) -> float:
    """Wait until other processes use less than ``max_cores`` over a window (or
    ``give_up_seconds`` pass); returns their use in the last window."""
    deadline = time.monotonic() + give_up_seconds
    while True:
        with OtherLoad(postmaster) as other:
            time.sleep(window)
        if other.cores < max_cores or time.monotonic() >= deadline:
            return other.cores
        print(f"  other processes use {other.cores:.2f} cores; waiting", flush=True)


def _monitor(benchmark: int, postmaster: int, interval: float, stop: Any, result: Any) -> None:
    roots = {benchmark, postmaster}
    cpu_seconds = elapsed = 0.0
    last = _other_cpu(roots)
    while not stop.wait(interval):
        current = _other_cpu(roots)
        cpu_seconds += sum(max(cpu - last.get(pid, cpu), 0.0) for pid, cpu in current.items())
        elapsed += interval
        last = current
    result.put(cpu_seconds / elapsed if elapsed else float("nan"))


def _other_cpu(roots: set[int]) -> dict[int, float]:
    """CPU seconds so far of every process outside the trees under ``roots``."""
    sample = {}
    for proc in psutil.process_iter(["cpu_times"]):
        try:
            if proc.pid in roots or roots & {p.pid for p in proc.parents()}:
                continue
            times = proc.info["cpu_times"]
        except psutil.Error:
            continue
        if times is not None:
            sample[proc.pid] = times.user + times.system
    return sample


def _local_postmaster(backend_pid: int) -> int | None:
    """The server's main process if the backend serving us runs on this machine."""
    try:
        backend = psutil.Process(backend_pid)
        parent = backend.parent()
        if "postgres" not in backend.name() or parent is None:
            return None
    except psutil.Error:
        return None
    return int(parent.pid)

"""Shared helpers of the benchmarks: servers, throwaway databases, CLI runs, timing."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

from api.cli.demo import seed
from api.wiring.database import create_database, ledger_env, migrate
from domain.ledger.application import ExportLedger
from tests import pg

# -- servers and databases ------------------------------------------------------


@contextmanager
def server(database_url: str | None) -> Iterator[str]:
    """An admin URL: the given server, or an embedded one in a temporary directory."""
    if database_url:
        yield database_url
        return
    with warnings.catch_warnings():  # pgserver warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    with tempfile.TemporaryDirectory(prefix="el-bench-") as tmp:
        embedded: Any = pgserver.get_server(  # type: ignore[attr-defined]
            Path(tmp) / "pgdata", cleanup_mode="stop"
        )
        try:
            yield str(embedded.get_uri())
        finally:
            embedded.cleanup()


@contextmanager
def fresh_database(admin_url: str, prefix: str, *, migrated: bool = True) -> Iterator[str]:
    """A new database (migrated unless told otherwise), dropped at the end."""
    name = pg.new_name(prefix)
    create_database(admin_url, name)
    url = pg.with_database(admin_url, name)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        pg.drop(admin_url, name)


def open_ledger(url: str, pool_size: int = 4) -> ExportLedger:
    return ExportLedger(env=ledger_env(url, pool_size=pool_size, lock_timeout_seconds=30))


def seed_ledger(url: str, exports: int, *, users: int, rng: random.Random) -> float:
    """Seed ``exports`` exports through the application (``api.cli.demo.seed``), then
    checkpoint; returns the seconds it took."""
    ledger = open_ledger(url)
    try:
        started = time.perf_counter()
        seed(ledger, exports, users=users, rng=rng)
        checkpoint(url)
        return time.perf_counter() - started
    finally:
        ledger.close()


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query.encode()).fetchone()
    return row[0] if row else None


def checkpoint(url: str) -> None:
    """Flush dirty buffers before a timed step, so it does not pay for the last
    one's writes (skipped when the URL's user may not run CHECKPOINT)."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass


def count_events(url: str) -> int:
    return int(scalar(url, "SELECT count(*) FROM exportledger_events"))


# -- the export-ledger command line as a subprocess -------------------------------


@dataclass
class CliRun:
    seconds: float
    peak_rss_mb: float
    stdout: str
    tree_rss_mb: float = 0.0
    """The largest sum of the RSS of the command and its child processes (an
    import's), sampled every 0.2 s."""


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("export-ledger")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from api.cli.main import main; main()"]


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_LEDGER_")}
    env.update(EXPORT_LEDGER_DATABASE_URL=url, COLUMNS="200", NO_COLOR="1")
    return env


def run_cli(args: Sequence[str], url: str) -> CliRun:
    """Run ``export-ledger ARGS`` to the end: its wall time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*cli_command(), *args], stdout=out, stderr=err, env=cli_env(url))
        peak = tree = 0.0
        for sample in itertools.count():
            peak = max(peak, peak_rss_mb(proc.pid))
            if sample % 10 == 0:  # finding the children scans every process: not every 20 ms
                tree = max(tree, tree_rss_mb(proc.pid))
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"export-ledger {' '.join(args)} exited {proc.returncode}: {stderr}")
    return CliRun(seconds, peak, stdout, max(tree, peak))


def peak_rss_mb(pid: int) -> float:
    """The process's peak RSS so far (Linux: VmHWM, which counts only the memory
    of the program it exec'd, unlike ``ru_maxrss``; elsewhere: current RSS).
    0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    except OSError:
        pass
    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.Error:
        return 0.0


def tree_rss_mb(pid: int) -> float:
    """The RSS of a process and all its descendants now, together (0 when gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def start_cli(args: Sequence[str], url: str) -> subprocess.Popen[bytes]:
    """Start a long-running ``export-ledger`` command (stop it with terminate())."""
    return subprocess.Popen(
        [*cli_command(), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(url),
    )


# -- timing ---------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    if ordered[high] == ordered[low]:  # also when both are infinite
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(seconds),
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "max_ms": max(seconds, default=float("nan")) * 1000,
    }


@dataclass
class Throughput:
    operations: int
    seconds: float
    latencies: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.operations / self.seconds

    def summary(self) -> dict[str, float]:
        return {"operations": self.operations, "seconds": self.seconds, "rate": self.rate} | (
            latency_ms(self.latencies)
        )


Worker = Callable[[], AbstractContextManager[Callable[[], object]]]


def hammer(threads: int, seconds: float, worker: Worker, warmup_ops: int = 20) -> Throughput:
    """Run one operation in a loop on ``threads`` threads for ``seconds``.

    ``worker()`` gives each thread its operation (as a context manager, so it
    can hold a connection); setup and a few warm-up operations happen before
    the clock starts. Every operation's latency is kept.
    """
    clock: dict[str, float] = {}

    def start_clock() -> None:  # run once, when every thread is ready
        clock["deadline"] = time.perf_counter() + seconds

    barrier = threading.Barrier(threads + 1, action=start_clock)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    finished = [0.0] * threads
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        try:
            with worker() as operation:
                for _ in range(warmup_ops):
                    operation()
                barrier.wait()
                deadline, mine = clock["deadline"], latencies[index]
                while (started := time.perf_counter()) < deadline:
                    operation()
                    mine.append(time.perf_counter() - started)
                finished[index] = time.perf_counter()
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    start = clock["deadline"] - seconds
    flat = [x for per_thread in latencies for x in per_thread]
    return Throughput(len(flat), max(finished) - start, flat)


def paced(rate: float, count: int) -> Iterator[int]:
    """Yields 0..count-1, the i-th no earlier than i/rate seconds after the first."""
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i

"""Seeded ledgers made once per run and cloned: the data sets several benchmarks share.

Seeding a million exports through the application takes minutes; ``api_lists`` and
``console`` read the same one, as ``read_your_writes`` and ``rest_v1`` read the same
hundred thousand. :func:`seeded_database` seeds a data set the first time a run asks
for it (``api.cli.demo.seed`` with ``random.Random(exports)``, then ``export-ledger
rebuild`` and ``VACUUM ANALYZE``) into a template database, and gives every benchmark
that asks a clone of it (``CREATE DATABASE ... TEMPLATE``, a file copy), dropped when
the benchmark ends. :func:`drop_templates` drops the templates at the end of the run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from api.wiring.database import create_database, migrate
from tests import pg
from tests.benchmarks.support import run_cli, seed_ledger


@dataclass(frozen=True)
class DataSet:
    """A seeded data set: ``exports`` exports of ``users`` users, projected."""

    exports: int
    users: int
    seed_seconds: float
    rebuild_seconds: float
    template: str

    def describe(self) -> dict[str, object]:
        return {
            "exports": self.exports,
            "users": self.users,
            "seed": f"api.cli.demo.seed, random.Random({self.exports}), then rebuild",
            "seed_seconds": round(self.seed_seconds, 1),
            "rebuild_seconds": round(self.rebuild_seconds, 1),
        }


_made: dict[tuple[str, int, int], DataSet] = {}


@contextmanager
def seeded_database(
    admin_url: str, prefix: str, exports: int, users: int
) -> Iterator[tuple[str, DataSet]]:
    """A fresh database holding the data set (exports, users), and the data set: a
    clone of the run's template of it, made on first use."""
    data = _made.get((admin_url, exports, users)) or _make(admin_url, exports, users)
    name = pg.new_name(prefix)
    create_database(admin_url, name, template=data.template)
    try:
        yield pg.with_database(admin_url, name), data
    finally:
        pg.drop(admin_url, name)


def _make(admin_url: str, exports: int, users: int) -> DataSet:
    name = pg.new_name(f"bench_seed_{exports}")
    create_database(admin_url, name)
    url = pg.with_database(admin_url, name)
    try:
        migrate(url)
        print(f"  seeding {exports:,} exports of {users:,} users (once this run)", flush=True)
        seeded = seed_ledger(url, exports, users=users, rng=random.Random(exports))
        started = time.perf_counter()
        run_cli(["rebuild"], url)
        rebuilt = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    except BaseException:
        pg.drop(admin_url, name)
        raise
    data = _made[(admin_url, exports, users)] = DataSet(exports, users, seeded, rebuilt, name)
    return data


def drop_templates() -> None:
    """Drop every template this run made."""
    while _made:
        (admin_url, _, _), data = _made.popitem()
        pg.drop(admin_url, data.template)

"""Run the benchmarks: ``python -m tests.benchmarks.run [--only NAME] [--scale small|full]
[--database-url URL] [--wait-quiet CORES] [--write BENCHMARKS.md [--force]]``.

Each benchmark gets a throwaway database (dropped at the end) on an embedded
server, or on the server of ``--database-url`` (an admin URL: it must be
allowed to create databases). Prints a table; writes JSON (and the table
in Markdown) under ``benchmark-results/``. With ``--write``, also keeps each
benchmark's results as its record (``tests/benchmarks/results/NAME.json``; a
small run does not replace a full-scale record unless ``--force``) and
rewrites the document from all records.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks import document, records
from tests.benchmarks.machine import OtherLoad, describe, machine_info, wait_until_quiet
from tests.benchmarks.report import BenchResult, Figure, markdown, table
from tests.benchmarks.seeded import drop_templates
from tests.benchmarks.support import server

BENCHMARKS = (
    "commands",
    "group_commit",
    "api_commands",
    "demo",
    "rebuild",
    "import_rows",
    "follower_lag",
    "api_lists",
    "as_of_list",
    "console",
    "ledger",
    "read_your_writes",
    "witness",
    "ha",
    "write_path",
    "privacy",
    "rest_v1",
    "live_sync",
    "events_feed",
    "event_delivery",
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    selected = args.only or list(BENCHMARKS)
    results: dict[str, Any] = {}
    figures: list[Figure] = []
    failed = False
    with server(args.database_url) as admin_url:
        machine = machine_info(admin_url)
        print(describe(machine), flush=True)
        try:
            for n, name in enumerate(selected, 1):
                if args.wait_quiet is not None:
                    wait_until_quiet(machine["server_postmaster_pid"], args.wait_quiet, 900)
                print(f"running {name} ({args.scale}, {n} of {len(selected)}) ...", flush=True)
                started = time.perf_counter()
                try:
                    module = importlib.import_module(f"tests.benchmarks.{name}")
                    with OtherLoad(machine["server_postmaster_pid"]) as other:
                        result: BenchResult = module.run(admin_url, args.scale)
                except Exception:
                    failed = True
                    traceback.print_exc()
                    results[name] = {"error": traceback.format_exc()}
                    continue
                seconds = time.perf_counter() - started
                print(table(result.figures), flush=True)
                print(
                    f"{name} took {seconds:.0f} s; other processes used {other.cores:.2f} of "
                    f"{os.cpu_count()} cores meanwhile\n",
                    flush=True,
                )
                figures.extend(result.figures)
                results[name] = {
                    "seconds": seconds,
                    "other_processes_cores": other.cores,
                    "figures": [f.as_dict() for f in result.figures],
                    "details": result.details,
                }
        finally:
            drop_templates()  # the seeded data sets' templates, on a given server
    print(table(figures))
    path = _write(args, machine, results, figures)
    print(f"\nresults written to {path}")
    if args.write:
        _record(args, machine, results)
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS, help="run only this one (repeatable)"
    )
    parser.add_argument("--scale", choices=("small", "full"), default="full")
    parser.add_argument(
        "--database-url", help="admin URL of a PostgreSQL server (default: embedded server)"
    )
    parser.add_argument("--output", type=Path, default=Path("benchmark-results"))
    parser.add_argument(
        "--write",
        type=Path,
        metavar="BENCHMARKS.md",
        help="keep the results as the benchmarks' records and rewrite this document",
    )
    parser.add_argument(
        "--force", action="store_true", help="with --write: a small run replaces full-scale records"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="CORES",
        help="before each benchmark, wait (up to 15 min) until other processes use fewer "
        "than CORES cores",
    )
    return parser


def _write(
    args: argparse.Namespace,
    machine: dict[str, Any],
    results: dict[str, Any],
    figures: list[Figure],
) -> Path:
    """The JSON of the run, and its table in Markdown next to it."""
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path: Path = args.output / f"results-{stamp}.json"
    document = {
        "started": stamp,
        "scale": args.scale,
        "command": "python -m tests.benchmarks.run " + " ".join(sys.argv[1:]),
        "server": "given URL" if args.database_url else "embedded",
        "machine": machine,
        "benchmarks": results,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    path.with_suffix(".md").write_text(markdown(figures) + "\n")
    return path


def _record(args: argparse.Namespace, machine: dict[str, Any], results: dict[str, Any]) -> None:
    """Each benchmark that succeeded becomes its record; then the document is rewritten."""
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m tests.benchmarks.run " + " ".join(sys.argv[1:])
    for name, result in results.items():
        if "figures" not in result:
            continue
        record = records.new_record(
            name,
            result,
            scale=args.scale,
            date=date,
            command=command,
            server="given URL" if args.database_url else "embedded",
            machine=machine,
            wait_quiet=args.wait_quiet,
        )
        if records.save(record, force=args.force):
            print(f"{name}: record updated ({records.path_of(name)})")
    document.write(args.write)
    print(f"{args.write} written")


if __name__ == "__main__":
    sys.exit(main())

"""The record of measured figures: the latest results of each benchmark, one
small JSON file per benchmark under ``tests/benchmarks/results/NAME.json``.

``BENCHMARKS.md`` is written from these files (see ``document.py``), so running
one benchmark replaces only its own file and its own section. A full-scale
record is not replaced by a small-scale one unless forced. A record's
``notes`` (Markdown paragraphs) are written by hand after a run and shown
under its table; a new run starts without notes, since they described the old
figures.

``python -m tests.benchmarks.records --write BENCHMARKS.md`` rewrites the
document from the records without running anything; ``--import RUN.json``
first takes the benchmarks of a run's JSON (from ``benchmark-results/``) into
the records.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from tests.benchmarks.report import Figure, Target

RESULTS = Path(__file__).with_name("results")
_TARGET = re.compile(r"^(value|ratio) (>=|<=|<) ([\d,.]+)(?:x| (.+))?$")


def path_of(name: str, directory: Path = RESULTS) -> Path:
    return directory / f"{name}.json"


def load(name: str, directory: Path = RESULTS) -> dict[str, Any] | None:
    path = path_of(name, directory)
    return json.loads(path.read_text()) if path.exists() else None


def save(record: dict[str, Any], *, force: bool = False, directory: Path = RESULTS) -> bool:
    """Store a benchmark's record, unless it would replace a full-scale record
    by a small-scale one (without ``force``). Returns whether it was stored."""
    name = record["benchmark"]
    old = load(name, directory)
    if old and old["scale"] == "full" and record["scale"] != "full" and not force:
        print(
            f"warning: {name}: kept the full-scale record of {old['date']}; a "
            f"{record['scale']}-scale run does not replace it (use --force to replace it)",
            file=sys.stderr,
        )
        return False
    directory.mkdir(parents=True, exist_ok=True)
    path_of(name, directory).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return True


def new_record(
    name: str,
    result: dict[str, Any],
    *,
    scale: str,
    date: str,
    command: str,
    server: str,
    machine: dict[str, Any],
    wait_quiet: float | None = None,
) -> dict[str, Any]:
    """A record from one benchmark's entry in a run (``figures`` as Figure.as_dict)."""
    return {
        "benchmark": name,
        "scale": scale,
        "date": date,
        "command": command,
        "wait_quiet": wait_quiet,
        "server": server,
        "machine": {k: v for k, v in machine.items() if k != "server_postmaster_pid"},
        "other_processes_cores": result.get("other_processes_cores"),
        "seconds": result.get("seconds"),
        "figures": [figure_dict(f) for f in result["figures"]],
        "notes": [],
    }


def figure_dict(figure: Figure | dict[str, Any]) -> dict[str, Any]:
    """A figure as the record keeps it: targets as fields, not as text."""
    data = figure.as_dict() if isinstance(figure, Figure) else dict(figure)
    targets = data.get("target_fields")
    if targets is None:  # older run files: only the targets' descriptions
        targets = [_parse_target(t) for t in data.get("targets", ())]
    keep = ("name", "value", "unit", "baseline", "baseline_value", "baseline_unit", "ratio")
    kept = {k: _finite(data.get(k, "")) for k in keep}
    return kept | {"targets": targets}


def _finite(value: Any) -> Any:
    """NaN as null: the records are strict JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def to_figure(name: str, data: dict[str, Any]) -> Figure:
    ratio = data.get("ratio")
    return Figure(
        name,
        data["name"],
        _number(data["value"]),
        data["unit"],
        data["baseline"],
        _number(data["baseline_value"]),
        data.get("baseline_unit") or "",
        tuple(Target(**t) for t in data.get("targets", ())),
        recorded_ratio=float(ratio) if isinstance(ratio, int | float) else None,
    )


def _parse_target(text: str) -> dict[str, Any]:
    """A target from its description (as older run files hold it)."""
    match = _TARGET.match(text)
    if not match:
        raise ValueError(f"cannot read the target {text!r}")
    on, op, bound, unit = match.groups()
    return {"on": on, "op": op, "bound": float(bound.replace(",", "")), "unit": unit or ""}


def import_run(path: Path, *, force: bool = False) -> list[str]:
    """Take every benchmark that succeeded in a run's JSON into the records."""
    run = json.loads(path.read_text())
    stored = []
    for name, result in run["benchmarks"].items():
        if "figures" not in result:
            continue
        record = new_record(
            name,
            result,
            scale=run["scale"],
            date=_date(run["started"]),
            command=run["command"],
            server=run.get("server", "embedded"),
            machine=run["machine"],
        )
        if save(record, force=force):
            stored.append(name)
    return stored


def _date(stamp: str) -> str:
    """``20261124T195124Z`` -> ``2026-11-24 19:51 UTC``."""
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]} UTC"


def main(argv: list[str] | None = None) -> int:
    from tests.benchmarks.document import write

    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.records", description=__doc__)
    parser.add_argument("--import", dest="runs", type=Path, action="append", default=[])
    parser.add_argument("--write", type=Path, help="the document to write (BENCHMARKS.md)")
    parser.add_argument("--force", action="store_true", help="let small replace full scale")
    args = parser.parse_args(argv)
    for run in args.runs:
        print(f"{run}: imported {', '.join(import_run(run, force=args.force)) or 'nothing'}")
    if args.write:
        write(args.write)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

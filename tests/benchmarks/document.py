"""``BENCHMARKS.md``, written from the records (``tests/benchmarks/results/``) and
the benchmark modules' docstrings, in the order of ``run.BENCHMARKS``.

Each section: what the benchmark measures (its module's docstring, so the method
is described next to the code), when and how it was measured, a table of every
figure against its baseline from the same run, and the command that reproduces it.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from tests.benchmarks import records
from tests.benchmarks.report import Figure, _number

_HEADER = """# Benchmarks

<!-- Written by `python -m tests.benchmarks.run --write BENCHMARKS.md`: edit the benchmark
modules' docstrings (method) or the notes in tests/benchmarks/results/NAME.json (reading
of the figures), then `python -m tests.benchmarks.records --write BENCHMARKS.md`. -->

Each figure is measured against a baseline from the same run on the same
PostgreSQL server; **ratio** is value / baseline value. A target bounds either
the value or the ratio. The benchmarks live in `tests/benchmarks/` and are not
part of the test suite; the test suite has no timed assertions.

## Running

```
python -m tests.benchmarks.run --write BENCHMARKS.md [--only NAME]... [--scale small|full]
    [--database-url URL] [--wait-quiet CORES] [--force]
```

- Runs every benchmark (or each `--only NAME`: {names}), then rewrites this file.
  Each benchmark's latest results are kept in `tests/benchmarks/results/NAME.json`,
  so a run of some benchmarks replaces only their sections.
- Default server: an embedded PostgreSQL (pgserver) in a temporary directory.
  `--database-url` takes an admin URL of a server on which it may create
  databases; each benchmark creates its own database and drops it at the end.
  Benchmarks that read the same seeded data set (`api_lists` and `console`:
  1,000,000 exports of 20,000 users; `read_your_writes` and `rest_v1`: 100,000 of
  2,000) get clones of one template seeded once per run (`tests/benchmarks/seeded.py`),
  dropped when the run ends.
- `--scale full` (default) is what the targets are about; `small` is a quick
  check. A small run does not replace a full-scale section unless `--force`.
- `--wait-quiet CORES`: before each benchmark, wait (up to 15 min) until other
  processes use fewer than `CORES` cores. Each section says how many cores
  other processes used while it ran.
- Without `--write`, results go only to stdout and `benchmark-results/` (JSON
  of every measurement, not committed).
"""


def write(path: Path, directory: Path = records.RESULTS) -> None:
    path.write_text(render(directory))


def render(directory: Path = records.RESULTS) -> str:
    from tests.benchmarks.run import BENCHMARKS

    found = [(name, records.load(name, directory)) for name in BENCHMARKS]
    present = [(name, record) for name, record in found if record]
    machine = _common_machine([record for _, record in present])
    parts = [_HEADER.format(names=", ".join(f"`{n}`" for n in BENCHMARKS)).rstrip()]
    parts.append(_summary(present, machine))
    parts += [_section(name, record, machine) for name, record in present]
    missing = [name for name, record in found if not record]
    if missing:
        parts.append("Not measured yet: " + ", ".join(f"`{n}`" for n in missing) + ".")
    return "\n\n".join(parts) + "\n"


def _summary(present: list[tuple[str, dict[str, Any]]], machine: str) -> str:
    lines = [
        "## Summary",
        "",
        f"Machine: {machine}." if machine else "Machine: see each section.",
        "",
        "| benchmark | scale | measured | PostgreSQL | other processes used | targets |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, record in present:
        figures = _figures(record)
        targeted = [f for f in figures if f.targets]
        met = sum(1 for f in targeted if f.verdict() == "PASS")
        targets = f"{met} of {len(targeted)} met" if targeted else "-"
        lines.append(
            f"| [{name}](#{name}) | {record['scale']} | {record['date']} | "
            f"{_server(record)} | {_load(record)} | {targets} |"
        )
    return "\n".join(lines)


def _section(name: str, record: dict[str, Any], machine: str) -> str:
    figures = _figures(record)
    lines = [f"## {name}", "", _docstring(name), "", *_provenance(name, record, machine), ""]
    lines += [
        "| figure | value | baseline | baseline value | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_row(f, record["scale"]) for f in figures]
    notes = record.get("notes") or []
    if notes:
        lines += ["", *(line for note in notes for line in (note, ""))]
    return "\n".join(lines).rstrip()


def _provenance(name: str, record: dict[str, Any], machine: str) -> list[str]:
    reproduce = f"python -m tests.benchmarks.run --only {name} --scale {record['scale']}"
    if record.get("wait_quiet") is not None:
        reproduce += f" --wait-quiet {record['wait_quiet']}"
    if record.get("server") not in (None, "embedded"):
        reproduce += " --database-url URL"
    reproduce += " --write BENCHMARKS.md"
    pg = record["machine"]["postgresql"]
    lines = [
        f"Measured {record['date']}, scale **{record['scale']}**, {_server(record)} "
        f"(fsync {pg['fsync']}, synchronous_commit "
        f"{pg['synchronous_commit']}, shared_buffers {pg['shared_buffers']}); other processes "
        f"used {_load(record)} meanwhile.",
        f"Reproduce: `{reproduce}`",
    ]
    if record.get("command") and _canonical(record["command"]) != _canonical(reproduce):
        lines.append(f"Measured as part of: `{record['command']}`")
    if _machine(record["machine"]) != machine:
        lines.append(f"Machine: {_machine(record['machine'])}.")
    if record["scale"] != "full":
        lines.append(
            "Small scale: a check that the benchmark works; the targets are about full scale."
        )
    return [line for text in lines for line in ("", text)][1:]


def _row(f: Figure, scale: str) -> str:
    unit = f.baseline_unit or f.unit
    cells = (
        f.name,
        f"{_number(f.value)} {f.unit}".strip(),
        f.baseline or "-",
        "-" if math.isnan(f.baseline_value) else f"{_number(f.baseline_value)} {unit}".strip(),
        "-" if math.isnan(f.ratio) else f"{f.ratio:#.3g}".rstrip(".") + "x",
        ", ".join(t.describe() for t in f.targets) or "-",
        _result(f, scale),
    )
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _result(f: Figure, scale: str) -> str:
    if not f.targets:
        return "-"
    missed = [t for t in f.targets if not t.met(f)]
    verdict = (
        "met"
        if not missed
        else "missed: " + "; ".join(f"{t.describe()} at {t.gap(f)}" for t in missed)
    )
    return verdict if scale == "full" else f"{verdict} (at {scale} scale)"


def _figures(record: dict[str, Any]) -> list[Figure]:
    return [records.to_figure(record["benchmark"], f) for f in record["figures"]]


def _docstring(name: str) -> str:
    """The module's docstring with reStructuredText literals as Markdown code."""
    module = importlib.import_module(f"tests.benchmarks.{name}")
    text = inspect.getdoc(module) or ""
    return re.sub(r"``(.+?)``", r"`\1`", text, flags=re.DOTALL)


def _server(record: dict[str, Any]) -> str:
    where = "embedded" if record.get("server", "embedded") == "embedded" else "given"
    return f"{where} PostgreSQL {record['machine']['postgresql']['server_version']}"


def _load(record: dict[str, Any]) -> str:
    cores = record.get("other_processes_cores")
    cpus = record["machine"].get("cpus")
    if isinstance(cores, str):  # as an older report gave it
        return cores
    if not isinstance(cores, int | float):
        return "an unknown number of cores"
    return f"{cores:.2f} of {cpus} cores" if cpus else f"{cores:.2f} cores"


def _machine(machine: dict[str, Any]) -> str:
    parts = [
        f"{machine.get('cpus')} CPUs ({machine.get('cpu_model') or 'model not recorded'})",
        f"{machine.get('memory_gb')} GB RAM",
        machine.get("os") or "OS not recorded",
        f"Python {machine.get('python')}",
        f"eventsourcing {machine.get('eventsourcing')}",
    ]
    return ", ".join(parts)


def _common_machine(present: list[dict[str, Any]]) -> str:
    counts = Counter(_machine(record["machine"]) for record in present)
    return counts.most_common(1)[0][0] if counts else ""


def _canonical(command: str) -> str:
    return " ".join(command.replace(" --write BENCHMARKS.md", "").split())

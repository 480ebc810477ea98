"""Figures (each a ratio to a baseline of the same run), targets, and how they are shown."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

_OPERATORS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """A bound on a figure's value (``on="value"``) or on its ratio to the baseline."""

    on: Literal["value", "ratio"]
    op: Literal[">=", "<=", "<"]
    bound: float
    unit: str = ""

    def describe(self) -> str:
        unit = "x" if self.on == "ratio" else f" {self.unit}".rstrip()
        return f"{self.on} {self.op} {_number(self.bound)}{unit}"

    def actual(self, figure: Figure) -> float:
        return figure.ratio if self.on == "ratio" else figure.value

    def met(self, figure: Figure) -> bool:
        actual = self.actual(figure)
        return not math.isnan(actual) and _OPERATORS[self.op](actual, self.bound)

    def gap(self, figure: Figure) -> str:
        """How far off a missed target is, as a factor of the bound."""
        actual = self.actual(figure)
        if actual == 0 or math.isnan(actual):
            return "no result"
        if self.op == ">=":
            return f"{actual / self.bound:.2f}x of the bound"
        return f"{actual / self.bound:.2f}x the bound"


@dataclass
class Figure:
    benchmark: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    baseline_unit: str = ""  # when it differs from ``unit``
    targets: Sequence[Target] = ()
    # A ratio as once published from unrounded values, for figures transcribed from
    # an older report; None: computed from value and baseline value.
    recorded_ratio: float | None = None

    @property
    def ratio(self) -> float:
        if self.recorded_ratio is not None:
            return self.recorded_ratio
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    def verdict(self) -> str:
        if not self.targets:
            return "-"
        missed = [t for t in self.targets if not t.met(self)]
        if not missed:
            return "PASS"
        return "MISS (" + "; ".join(f"{t.describe()}: {t.gap(self)}" for t in missed) + ")"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = [t.describe() for t in self.targets]
        data["target_fields"] = [asdict(t) for t in self.targets]
        data.update(ratio=self.ratio, verdict=self.verdict())
        return data


@dataclass
class BenchResult:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000 or (abs(value) >= 10 and value == int(value)):
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cells(f: Figure) -> tuple[str, ...]:
    return (
        f.benchmark,
        f.name,
        f"{_number(f.value)} {f.unit}",
        f.baseline,
        f"{_number(f.baseline_value)} {f.baseline_unit or f.unit}",
        f"{f.ratio:.3g}x",
        ", ".join(t.describe() for t in f.targets) or "-",
        f.verdict(),
    )


_HEADER = (
    "benchmark",
    "figure",
    "value",
    "baseline",
    "baseline value",
    "ratio",
    "target",
    "result",
)


def table(figures: Sequence[Figure]) -> str:
    """A plain-text table of every figure."""
    rows = [_HEADER, *map(_cells, figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown(figures: Sequence[Figure]) -> str:
    """The same table in Markdown."""
    rows = [_HEADER, tuple("---" for _ in _HEADER), *map(_cells, figures)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)

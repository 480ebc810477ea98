"""The ledger page's charts: server-rendered SVG (the console runs no scripts), each with
its numbers in a table for screen readers and anyone who wants the figures.

``hourly_events`` stacks the events of each of the last hours by type; ``lags`` draws
how far each follower of the log (the projection, the sealer, each webhook sink, each
witness) is behind its head.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from markupsafe import Markup, escape

from sql import statement

HOURS = 48
SCAN = 50_000
_WIDTH, _HEIGHT, _PAD = 720, 180, 24
COLOURS = {
    "Requested": "#4e79a7", "Imported": "#4e79a7", "ProcessingStarted": "#f28e2b",
    "Completed": "#59a14f", "Failed": "#e15759", "Retried": "#b07aa1",
    "Downloaded": "#76b7b2", "Expired": "#9c755f", "Deleted": "#bab0ac",
}  # fmt: skip
_OTHER = "#edc948"


@dataclass(frozen=True, slots=True)
class Hourly:
    hours: list[datetime]
    kinds: list[str]
    counts: dict[tuple[datetime, str], int]

    def total(self, hour: datetime) -> int:
        return sum(self.counts.get((hour, k), 0) for k in self.kinds)

    def rows(self) -> list[tuple[datetime, list[int], int]]:
        """(hour, count per kind, total), newest first, hours with events only."""
        found = []
        for hour in reversed(self.hours):
            cells = [self.counts.get((hour, k), 0) for k in self.kinds]
            if any(cells):
                found.append((hour, cells, sum(cells)))
        return found


def hourly_events(conn: psycopg.Connection[Any], now: datetime, hours: int = HOURS) -> Hourly:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    rows = conn.execute(
        statement("charts", "events_per_hour"), {"since": start, "scan": SCAN}
    ).fetchall()
    counts = {(r[0], str(r[1])): int(r[2]) for r in rows}
    kinds = sorted({k for _, k in counts}, key=lambda k: (k not in COLOURS, k))
    return Hourly([start + timedelta(hours=n) for n in range(hours)], kinds, counts)


def hourly_svg(chart: Hourly) -> Markup:
    """Stacked bars, one per hour, oldest on the left; a legend of the types."""
    tallest = max([chart.total(h) for h in chart.hours] + [1])
    step = (_WIDTH - 2 * _PAD) / len(chart.hours)
    parts = [_svg_open("Events per hour by type over the last hours")]
    for n, hour in enumerate(chart.hours):
        y = float(_HEIGHT - _PAD)
        for kind in chart.kinds:
            count = chart.counts.get((hour, kind), 0)
            if not count:
                continue
            height = count / tallest * (_HEIGHT - 2 * _PAD)
            y -= height
            parts.append(
                f'<rect x="{_PAD + n * step:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" '
                f'height="{height:.1f}" fill="{COLOURS.get(kind, _OTHER)}">'
                f"<title>{escape(hour.strftime('%m-%d %H:00'))} {escape(kind)}: {count}</title>"
                "</rect>"
            )
    parts.append(_axis(f"max {tallest}/h"))
    for n, kind in enumerate(chart.kinds):
        x = _PAD + n * 90
        parts.append(
            f'<rect x="{x}" y="4" width="10" height="10" fill="{COLOURS.get(kind, _OTHER)}"/>'
            f'<text x="{x + 14}" y="13" font-size="11">{escape(kind)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lags_svg(lags: list[tuple[str, int]]) -> Markup:
    """A horizontal bar per follower of the log: how many positions behind the head."""
    longest = max([lag for _, lag in lags] + [1])
    height = _PAD + 22 * len(lags)
    parts = [_svg_open("How far behind the head each follower of the log is", height)]
    for n, (name, lag) in enumerate(lags):
        y = 8 + n * 22
        width = lag / longest * (_WIDTH - 220)
        parts.append(
            f'<text x="0" y="{y + 12}" font-size="11">{escape(name)}</text>'
            f'<rect x="160" y="{y}" width="{max(width, 1):.1f}" height="14" fill="#4e79a7">'
            f"<title>{escape(name)}: {lag}</title></rect>"
            f'<text x="{166 + width:.1f}" y="{y + 12}" font-size="11">{lag}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _svg_open(label: str, height: int = _HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" class="chart">'
    )


def _axis(label: str) -> str:
    y = _HEIGHT - _PAD
    return (
        f'<line x1="{_PAD}" y1="{y}" x2="{_WIDTH - _PAD}" y2="{y}" stroke="#666"/>'
        f'<text x="{_WIDTH - _PAD}" y="{_PAD - 4}" font-size="11" text-anchor="end">'
        f"{escape(label)}</text>"
    )

"""What the overview and the configuration editor show: the daily chart, version diffs.

The editor's dry run is a backtest (:mod:`winnow.backtest`).

Pure functions over plain data; the routes read the rows and render the results.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import Any

from winnow.platform.labeling import NO_STRATEGY, StatusCounts
from winnow.states import DatapointOutcome
from winnow.web.editor import PALETTE

CHART_WIDTH = 640
CHART_HEIGHT = 180
_PAD_LEFT, _PAD_BOTTOM, _PAD_TOP = 36, 22, 8


@dataclass(slots=True)
class Chart:
    """A rendered chart: inline SVG markup and its legend (name, colour)."""

    svg: str
    legend: list[tuple[str, str]]
    days: int


def daily_chart(axis: Sequence[date], series: dict[str, list[int]]) -> Chart:
    """Stacked bars of datapoints per day, one colour per strategy, as inline SVG."""
    names = list(series)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    totals = [sum(series[n][i] for n in names) for i in range(len(axis))]
    peak = max(totals, default=0) or 1
    plot_w = CHART_WIDTH - _PAD_LEFT - 4
    plot_h = CHART_HEIGHT - _PAD_BOTTOM - _PAD_TOP
    slot = plot_w / max(len(axis), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img" aria-label="datapoints per day by strategy">',
        f'<line x1="{_PAD_LEFT}" y1="{_PAD_TOP + plot_h}" x2="{CHART_WIDTH - 4}" '
        f'y2="{_PAD_TOP + plot_h}" stroke="#c4c9d2"/>',
        f'<text x="{_PAD_LEFT - 4}" y="{_PAD_TOP + 8}" font-size="10" text-anchor="end" fill="#69707d">{peak}</text>',
        f'<text x="{_PAD_LEFT - 4}" y="{_PAD_TOP + plot_h}" font-size="10" text-anchor="end" fill="#69707d">0</text>',
    ]
    for i, day in enumerate(axis):
        x = _PAD_LEFT + i * slot + slot * 0.15
        y = float(_PAD_TOP + plot_h)
        for name in names:
            n = series[name][i]
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{colors[name]}"><title>{day.isoformat()} {escape(name)}: {n}</title></rect>'
            )
        if i % max(1, len(axis) // 6) == 0 or i == len(axis) - 1:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{CHART_HEIGHT - 6}" font-size="10" '
                f'text-anchor="middle" fill="#69707d">{day.strftime("%m-%d")}</text>'
            )
    if not names:
        parts.append(
            f'<text x="{CHART_WIDTH / 2}" y="{CHART_HEIGHT / 2}" text-anchor="middle" '
            f'fill="#69707d" font-size="12">nothing collected in this period</text>'
        )
    parts.append("</svg>")
    return Chart("".join(parts), list(colors.items()), len(axis))


LOCAL_OUTCOMES = (
    DatapointOutcome.SAMPLED,
    DatapointOutcome.LIMITED,
    DatapointOutcome.BATCH_FULL,
    DatapointOutcome.REFUSED,
)
"""The inference-side outcomes the overview shows per strategy, in column order."""


def strategy_rows(
    configured: Sequence[str],
    stored: Mapping[str, StatusCounts],
    local: Mapping[str, Mapping[str, int]] | None,
) -> list[dict[str, Any]]:
    """One row per strategy (configured ones first, then any only seen in stored images).

    ``stored``: the platform's images by strategy and status. ``local``: this
    process's ``winnow_datapoints`` counts by strategy and outcome, or None
    when it runs no inference role; then each of ``LOCAL_OUTCOMES`` is None
    (shown as a dash). ``limited`` (every strategy spent) and ``batch_full``
    (the batch at ``max_batch_images``) are separate columns.
    """
    rows = []
    for name in dict.fromkeys([*configured, *stored]):
        counts = stored.get(name, StatusCounts())
        outcome = local.get(name, {}) if local is not None else None
        row: dict[str, Any] = {
            "name": name,
            "configured": name in configured or name == NO_STRATEGY,
        }
        for kind in LOCAL_OUTCOMES:
            row[kind.value] = None if outcome is None else outcome.get(kind.value, 0)
        row.update(
            delivered=counts.total,
            labeled=counts.labeled + counts.reviewed,
            rejected=counts.rejected,
        )
        rows.append(row)
    return rows


@dataclass(slots=True)
class ConfigDiff:
    """Line diff between two configuration versions: (kind, text) with kind add, del or ''."""

    old: int
    new: int
    lines: list[tuple[str, str]] = field(default_factory=list)


def config_diff(old_version: int, old: Any, new_version: int, new: Any) -> ConfigDiff:
    """A unified line diff of two configurations, pretty-printed as JSON."""
    a = json.dumps(old, indent=2).splitlines()
    b = json.dumps(new, indent=2).splitlines()
    diff = ConfigDiff(old_version, new_version)
    for line in difflib.unified_diff(a, b, lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        diff.lines.append((kind, line))
    return diff

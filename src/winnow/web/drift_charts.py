"""The overview's drift charts as inline SVG: lines over UTC hours, and confidence histograms.

Pure functions over :func:`winnow.backtest.drift.drift` figures; no JavaScript
and no external library (the CSP allows no remote script), like the daily chart
of :mod:`winnow.web.insights`. Each chart is a :class:`Chart` (markup and legend).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from winnow.errors import WinnowError
from winnow.web.editor import PALETTE
from winnow.web.insights import Chart

if TYPE_CHECKING:
    from winnow.platform.service import Platform

WIDTH = 640
HEIGHT = 170
_LEFT, _BOTTOM, _TOP, _RIGHT = 40, 22, 8, 6


def _number(value: float, percent: bool) -> str:
    if percent:
        return f"{100 * value:.0f}%"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"


def line_chart(
    hours: Sequence[str],
    series: dict[str, list[Any]],
    *,
    label: str,
    kind: str,
    y_max: float | None = None,
    percent: bool = False,
) -> Chart:
    """One line per series over the hours (a gap where a value is None).

    ``kind`` names the chart in ``data-chart`` (the browser test finds it);
    the y axis runs from 0 to ``y_max`` (default: the largest value).
    """
    names = list(series)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    values = [v for vs in series.values() for v in vs if v is not None]
    peak = y_max if y_max is not None else (max(values, default=0) or 1)
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _BOTTOM - _TOP
    step = plot_w / max(len(hours) - 1, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" data-chart="{escape(kind)}" '
        f'data-series="{len(names)}">',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - _RIGHT}" y2="{_TOP + plot_h}" '
        'stroke="#c4c9d2"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" font-size="10" text-anchor="end" '
        f'fill="#69707d">{_number(peak, percent)}</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + plot_h}" font-size="10" text-anchor="end" '
        'fill="#69707d">0</text>',
    ]
    every = max(1, len(hours) // 6)
    for i, hour in enumerate(hours):
        if i % every == 0:
            parts.append(
                f'<text x="{_LEFT + i * step:.1f}" y="{HEIGHT - 6}" font-size="10" '
                f'text-anchor="middle" fill="#69707d">{escape(hour[5:13].replace("T", " "))}h'
                "</text>"
            )
    for name in names:
        runs: list[list[str]] = [[]]
        for i, value in enumerate(series[name]):
            if value is None:
                runs.append([])
                continue
            y = _TOP + plot_h - plot_h * min(float(value), peak) / peak
            runs[-1].append(f"{_LEFT + i * step:.1f},{y:.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(
                    f'<circle cx="{x}" cy="{y}" r="2" fill="{colors[name]}">'
                    f"<title>{escape(name)}</title></circle>"
                )
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{colors[name]}" stroke-width="1.5" '
                    f'points="{" ".join(run)}"><title>{escape(name)}</title></polyline>'
                )
    if not values:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#69707d" '
            'font-size="12">no predictions logged in this period</text>'
        )
    parts.append("</svg>")
    return Chart("".join(parts), list(colors.items()), len(hours))


def histogram_chart(histogram: dict[str, list[int]]) -> Chart:
    """Confidence histograms (ten bins of 0.1), one bar group per bin, a bar per model version;
    each version's bars are its share of its objects, so versions of any traffic compare."""
    names = list(histogram)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    shares = {name: [n / (sum(bins) or 1) for n in bins] for name, bins in histogram.items()}
    peak = max((v for bins in shares.values() for v in bins), default=0) or 1
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _BOTTOM - _TOP
    slot = plot_w / 10
    bar = slot * 0.8 / max(len(names), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="confidence distribution by model version" data-chart="confidence-histogram" '
        f'data-series="{len(names)}">',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - _RIGHT}" y2="{_TOP + plot_h}" '
        'stroke="#c4c9d2"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" font-size="10" text-anchor="end" '
        f'fill="#69707d">{_number(peak, True)}</text>',
    ]
    for b in range(10):
        x0 = _LEFT + b * slot + slot * 0.1
        parts.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - 6}" font-size="10" '
            f'text-anchor="middle" fill="#69707d">{b / 10:.1f}</text>'
        )
        for k, name in enumerate(names):
            h = plot_h * shares[name][b] / peak
            parts.append(
                f'<rect x="{x0 + k * bar:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colors[name]}"><title>{escape(name)} '
                f"{b / 10:.1f}-{(b + 1) / 10:.1f}: {histogram[name][b]}</title></rect>"
            )
    if not names:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#69707d" '
            'font-size="12">no confidences logged in this period</text>'
        )
    parts.append("</svg>")
    return Chart("".join(parts), list(colors.items()), 10)


def drift_charts(figures: dict[str, Any]) -> list[tuple[str, Chart]]:
    """The overview's drift charts, titled, in the order the page shows them."""
    hours = figures["hours"]
    confidence = figures["confidence"]
    quantiles = {
        "10th percentile": confidence["quantiles"]["p10"],
        "median": confidence["quantiles"]["p50"],
        "90th percentile": confidence["quantiles"]["p90"],
    }
    return [
        (
            "Predictions per hour by source",
            line_chart(
                hours,
                figures["predictions"]["by_source"],
                label="predictions per hour by source",
                kind="predictions-by-source",
            ),
        ),
        (
            "Predictions per hour by model version",
            line_chart(
                hours,
                figures["predictions"]["by_model"],
                label="predictions per hour by model version",
                kind="predictions-by-model",
            ),
        ),
        (
            "Class frequencies (share of the hour's objects)",
            line_chart(
                hours,
                figures["classes"]["by_hour"],
                label="class frequencies per hour",
                kind="class-frequencies",
                percent=True,
            ),
        ),
        (
            "Confidence per hour (all objects)",
            line_chart(
                hours,
                quantiles,
                label="confidence quantiles per hour",
                kind="confidence",
                y_max=1.0,
            ),
        ),
        (
            "Median confidence per hour by source",
            line_chart(
                hours,
                confidence["by_source"],
                label="median confidence per hour by source",
                kind="confidence-by-source",
                y_max=1.0,
            ),
        ),
        ("Confidence distribution by model version", histogram_chart(confidence["histogram"])),
        (
            "Objects per image by source",
            line_chart(
                hours,
                figures["objects"]["by_source"],
                label="objects per image per hour by source",
                kind="objects-by-source",
            ),
        ),
    ]


DRIFT_WINDOWS = {"24h": 1, "7d": 7}
"""How far back the overview's drift charts may look (``?drift=``), in days."""


def drift_view(
    platform: Platform,
    *,
    workspace: str,
    project: str,
    days: int = 1,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What the overview's drift section shows: ``figures``, ``charts`` and ``error``
    (the reason, when the log could not be read; the rest of the page still renders)."""
    from winnow.backtest.drift import drift  # pyarrow and DuckDB: loaded on first use
    from winnow.backtest.source import window_query

    until = now or datetime.now(UTC)
    since = until - timedelta(days=days)
    try:
        query = window_query(
            platform, workspace=workspace, project=project, since=since, until=until
        )
        figures = drift(query, project=project, since=since, until=until)
    except WinnowError as exc:
        return {"figures": None, "charts": [], "error": exc.message}
    return {"figures": figures, "charts": drift_charts(figures), "error": None}

"""Drift at a glance: predictions, classes, confidences and objects per image, hour by hour.

:func:`drift` aggregates a project's prediction records of a window in
DuckDB (the SQL runs over the view ``records``; with the platform's log it is
pushed into the Parquet scans, see :mod:`winnow.backtest.source`), per UTC hour:

- ``predictions``: records per hour, by ``source`` and by ``model_id``;
- ``objects``: mean ``objects_total`` per image per hour, by source (detection
  family; classification records count their scored classes);
- ``confidence``: the 10th, 50th and 90th percentile of object confidences (the
  top class's for single-label classification) per
  hour, the median per hour by source, and a histogram (ten bins of 0.1) by
  model version;
- ``classes``: each class's share of the hour's objects (single-label
  classification counts its top class; the
  :data:`TOP_CLASSES` most frequent of the window, the rest as ``other``),
  and the share per model version.

Series are lists aligned with ``hours`` (None where an hour has no data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pyarrow as pa

from winnow.backtest.engine import iso

TOP_CLASSES: Final = 8
BINS: Final = 10
OTHER: Final = "other"
_US_PER_HOUR: Final = 3_600_000_000

Query = Callable[[str, Sequence[Any]], pa.Table]
"""Runs DuckDB SQL (``?`` parameters) over the view ``records`` of the window."""


def _class_figures(
    cells: Sequence[tuple[Any, ...]],
) -> tuple[
    dict[str, list[int]],
    list[str],
    bool,
    list[tuple[str, int, float]],
    dict[str, dict[str, float]],
]:
    """From (model, hour, class, bin, count) cells: the confidence histogram per model version,
    the top classes (and whether others exist), (class, hour, share) rows, shares per model."""
    histogram: dict[str, list[int]] = {}
    totals: dict[str, int] = {}
    for model, _hour, cls, binned, count in cells:
        if binned is not None:
            histogram.setdefault(str(model), [0] * BINS)[max(0, int(binned))] += int(count)
        if cls is not None:
            totals[str(cls)] = totals.get(str(cls), 0) + int(count)
    histogram = dict(sorted(histogram.items()))
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    top = [c for c, _ in ranked[:TOP_CLASSES]]
    chosen = set(top)
    hour_class: dict[tuple[str, int], int] = {}
    model_class: dict[tuple[str, str], int] = {}
    for model, hour, cls, _binned, count in cells:
        label = str(cls) if cls is not None and str(cls) in chosen else OTHER
        hour_class[(label, hour)] = hour_class.get((label, hour), 0) + int(count)
        model_class[(str(model), label)] = model_class.get((str(model), label), 0) + int(count)
    per_hour: dict[int, int] = {}
    for (_label, hour), count in hour_class.items():
        per_hour[hour] = per_hour.get(hour, 0) + count
    hour_shares = [
        (label, hour, round(c / per_hour[hour], 4)) for (label, hour), c in hour_class.items()
    ]
    per_model_objects: dict[str, int] = {}
    for (model, _label), count in model_class.items():
        per_model_objects[model] = per_model_objects.get(model, 0) + count
    by_model: dict[str, dict[str, float]] = {}
    for (model, label), count in sorted(model_class.items()):
        by_model.setdefault(model, {})[label] = round(count / per_model_objects[model], 4)
    return histogram, top, len(ranked) > len(top), hour_shares, by_model


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def hours_of(since: datetime, until: datetime) -> list[datetime]:
    """Every UTC hour from the one holding ``since`` to the one before ``until``."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = []
    while start < until:
        out.append(start)
        start += timedelta(hours=1)
    return out


def drift(query: Query, *, project: str, since: datetime, until: datetime) -> dict[str, Any]:
    """The drift figures of ``project`` in ``[since, until)`` (see the module docstring)."""
    hours = hours_of(since, until)
    base = int(hours[0].timestamp()) * 1_000_000 if hours else 0
    bucket = f"CAST((epoch_us(time) - {base}) // {_US_PER_HOUR} AS INTEGER)"
    n = len(hours)

    def aligned(rows: Sequence[tuple[Any, int, Any]]) -> dict[str, list[Any]]:
        """(key, hour, value) rows as one list per key (keys sorted), aligned with the hours."""
        out: dict[str, list[Any]] = {}
        for key, hour, value in sorted(rows, key=lambda r: str(r[0])):
            if 0 <= hour < n:
                out.setdefault(str(key), [None] * n)[hour] = value
        return out

    # 1. records: per source, model version and hour (counts, objects)
    counts: dict[tuple[str, int], int] = {}
    models: dict[tuple[str, int], int] = {}
    objects_sum: dict[tuple[str, int], list[int]] = {}
    for source, model, hour, count, total_objects, counted in _rows(
        query(
            f"SELECT source, model_id, {bucket} AS h, count(*), sum(objects_total), "
            "count(objects_total) FROM records WHERE project = ? GROUP BY ALL",
            [project],
        )
    ):
        counts[(source, hour)] = counts.get((source, hour), 0) + int(count)
        models[(model, hour)] = models.get((model, hour), 0) + int(count)
        known = objects_sum.setdefault((source, hour), [0, 0])
        known[0] += int(total_objects or 0)
        known[1] += int(counted)
    per_source = aligned([(k, h, v) for (k, h), v in counts.items()])
    per_model = aligned([(k, h, v) for (k, h), v in models.items()])
    objects = aligned(
        [(k, h, round(t / c, 3) if c else None) for (k, h), (t, c) in objects_sum.items()]
    )
    # single-label classification: the top class only (the log keeps classes highest first)
    unnested = (
        f"SELECT {bucket} AS h, source, model_id, o.class AS class, "
        "CAST(o.confidence AS DOUBLE) AS confidence FROM (SELECT time, source, model_id, "
        "unnest(CASE WHEN task = 'classification' THEN objects[1:1] ELSE objects END) AS o "
        "FROM records WHERE project = ?)"
    )
    # 2. and 3. confidence quantiles per hour, and the median per source and hour
    median_by_source = aligned(
        _rows(
            query(
                "SELECT source, h, round(quantile_cont(confidence, 0.5), 4) "
                f"FROM ({unnested}) GROUP BY ALL",
                [project],
            )
        )
    )
    quantiles: dict[str, list[Any]] = {name: [None] * n for name in ("p10", "p50", "p90")}
    for hour, p10, p50, p90 in _rows(
        query(
            "SELECT h, quantile_cont(confidence, 0.1), quantile_cont(confidence, 0.5), "
            f"quantile_cont(confidence, 0.9) FROM ({unnested}) GROUP BY h",
            [project],
        )
    ):
        if 0 <= hour < n:
            for name, value in (("p10", p10), ("p50", p50), ("p90", p90)):
                quantiles[name][hour] = None if value is None else round(value, 4)
    # 4. objects per model version, hour, class and confidence bin: the histograms and shares
    cells = _rows(
        query(
            "SELECT model_id, h, class, "
            f"least(CAST(floor(round(confidence, 6) * {BINS}) AS INTEGER), {BINS - 1}), "
            f"count(*) FROM ({unnested}) GROUP BY ALL",
            [project],
        )
    )
    histogram, top, others, hour_shares, by_model = _class_figures(cells)
    shares = aligned(hour_shares)
    total = sum(sum(v or 0 for v in values) for values in per_source.values())
    return {
        "since": iso(since),
        "until": iso(until),
        "hours": [iso(h) for h in hours],
        "predictions": {"total": total, "by_source": per_source, "by_model": per_model},
        "objects": {"by_source": objects},
        "confidence": {
            "quantiles": quantiles,
            "by_source": median_by_source,
            "histogram": histogram,
        },
        "classes": {
            "order": [*top, *([OTHER] if others else [])],
            "by_hour": shares,
            "by_model": by_model,
        },
    }

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


def _literal(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


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

    def series(sql: str, params: Sequence[Any] = ()) -> dict[str, list[Any]]:
        """``sql`` gives (key, hour, value) rows: one list per key, aligned with the hours."""
        out: dict[str, list[Any]] = {}
        for key, hour, value in _rows(query(sql, list(params) or [project])):
            if 0 <= hour < n:
                out.setdefault(str(key), [None] * n)[hour] = value
        return out

    per_source = series(
        f"SELECT source, {bucket} AS h, count(*) FROM records WHERE project = ? GROUP BY ALL"
    )
    per_model = series(
        f"SELECT model_id, {bucket} AS h, count(*) FROM records WHERE project = ? GROUP BY ALL"
    )
    objects = series(
        f"SELECT source, {bucket} AS h, round(avg(objects_total), 3) FROM records "
        "WHERE project = ? GROUP BY ALL"
    )
    # single-label classification: the top class only (the log keeps classes highest first)
    unnested = (
        f"SELECT {bucket} AS h, source, model_id, o.class AS class, "
        "CAST(o.confidence AS DOUBLE) AS confidence FROM (SELECT time, source, model_id, "
        "unnest(CASE WHEN task = 'classification' THEN objects[1:1] ELSE objects END) AS o "
        "FROM records WHERE project = ?)"
    )
    median_by_source = series(
        f"SELECT source, h, round(quantile_cont(confidence, 0.5), 4) FROM ({unnested}) GROUP BY ALL"
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
    histogram: dict[str, list[int]] = {}
    for model, binned, count in _rows(
        query(
            f"SELECT model_id, least(CAST(floor(round(confidence, 6) * {BINS}) AS INTEGER), {BINS - 1}), "
            f"count(*) FROM ({unnested}) WHERE confidence IS NOT NULL GROUP BY ALL",
            [project],
        )
    ):
        histogram.setdefault(str(model), [0] * BINS)[max(0, int(binned))] = int(count)
    totals = _rows(
        query(
            f"SELECT class, count(*) AS n FROM ({unnested}) GROUP BY class ORDER BY n DESC, class",
            [project],
        )
    )
    top = [str(c) for c, _ in totals[:TOP_CLASSES]]
    named = ", ".join(_literal(c) for c in top) or "NULL"
    labeled = (
        f"SELECT h, model_id, CASE WHEN class IN ({named}) THEN class ELSE '{OTHER}' END AS c "
        f"FROM ({unnested})"
    )
    shares = series(
        "SELECT c, h, round(n / sum(n) OVER (PARTITION BY h), 4) FROM "
        f"(SELECT c, h, count(*) AS n FROM ({labeled}) GROUP BY c, h)",
    )
    by_model: dict[str, dict[str, float]] = {}
    for model, cls, share in _rows(
        query(
            "SELECT model_id, c, round(n / sum(n) OVER (PARTITION BY model_id), 4) FROM "
            f"(SELECT model_id, c, count(*) AS n FROM ({labeled}) GROUP BY model_id, c)",
            [project],
        )
    ):
        by_model.setdefault(str(model), {})[str(cls)] = share
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
            "order": [*top, *([OTHER] if len(totals) > len(top) else [])],
            "by_hour": shares,
            "by_model": by_model,
        },
    }

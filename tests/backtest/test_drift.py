"""Drift figures over known records, and the overview's charts drawn from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from winnow.backtest.drift import drift
from winnow.backtest.records import RECORD_SCHEMA
from winnow.web.drift_charts import drift_charts

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def record(hour: int, source: str, model: str, objects: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "time": START + timedelta(hours=hour, minutes=10),
        "node": "n",
        "workspace": "default",
        "project": "proj",
        "source": source,
        "model_id": model,
        "task": "object-detection",
        "inference_id": f"{hour}-{source}-{len(objects)}",
        "width": 64,
        "height": 48,
        "objects": [
            {"class": c, "confidence": p, "x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0}
            for c, p in objects
        ],
        "objects_total": len(objects),
        "matched": [],
        "outcome": "not_sampled",
        "limited_by": None,
        "paid": None,
        "config_version": 1,
    }


def table() -> pa.Table:
    rows = []
    for hour in range(6):
        model = "proj/1" if hour < 3 else "proj/2"  # a model update at 03:00
        classes = [("car", 0.9), ("bus", 0.8)] if hour < 3 else [("car", 0.9), ("car", 0.85)]
        rows.append(record(hour, "day-cam", model, classes))
        rows.append(record(hour, "day-cam", model, classes[:1]))
        night = 0.8 if hour < 4 else 0.3  # this camera's confidence drops at night
        rows.append(record(hour, "night-cam", model, [("car", night)]))
    rows.append({**record(2, "x", "other/1", [("cat", 0.1)]), "project": "other"})
    return pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)


def query_of(records: pa.Table) -> Any:
    def run(sql: str, params: Any) -> pa.Table:
        with duckdb.connect() as con:
            con.register("records", records)
            result: pa.Table = con.sql(sql, params=list(params) or None).to_arrow_table()
            return result

    return run


def figures() -> dict[str, Any]:
    return drift(query_of(table()), project="proj", since=START, until=START + timedelta(hours=6))


def test_predictions_per_hour_by_source_and_model_version() -> None:
    result = figures()
    assert len(result["hours"]) == 6 and result["hours"][0] == "2026-12-01T00:00:00Z"
    assert result["predictions"]["total"] == 18  # the other project's record is left out
    assert result["predictions"]["by_source"] == {"day-cam": [2] * 6, "night-cam": [1] * 6}
    assert result["predictions"]["by_model"] == {
        "proj/1": [3, 3, 3, None, None, None],
        "proj/2": [None, None, None, 3, 3, 3],
    }
    assert result["objects"]["by_source"]["day-cam"] == [1.5] * 6


def test_a_class_that_vanishes_after_a_model_update_shows() -> None:
    result = figures()
    assert result["classes"]["by_hour"]["bus"] == [0.25, 0.25, 0.25, None, None, None]
    assert result["classes"]["by_model"]["proj/1"] == {"car": 0.75, "bus": 0.25}
    assert result["classes"]["by_model"]["proj/2"] == {"car": 1.0}


def test_a_camera_whose_confidence_drops_at_night_shows() -> None:
    result = figures()
    night = result["confidence"]["by_source"]["night-cam"]
    assert [round(v, 2) for v in night] == [0.8, 0.8, 0.8, 0.8, 0.3, 0.3]
    histogram = result["confidence"]["histogram"]
    # float32 0.9 is 0.89999998: binned as the 0.9 it was, not below it
    assert histogram["proj/1"] == [0] * 8 + [6, 6]
    assert histogram["proj/2"] == [0, 0, 0, 2, 0, 0, 0, 0, 4, 6]


def test_the_charts_draw_every_series() -> None:
    charts = dict(drift_charts(figures()))
    by_source = charts["Predictions per hour by source"]
    assert 'data-chart="predictions-by-source"' in by_source.svg
    assert by_source.svg.count("<polyline") == 2
    assert [name for name, _ in by_source.legend] == ["day-cam", "night-cam"]
    histogram = charts["Confidence distribution by model version"]
    assert histogram.svg.count("<rect") == 20  # ten bins, two versions


def test_an_empty_window_draws_empty_charts() -> None:
    empty = drift(
        query_of(RECORD_SCHEMA.empty_table()),
        project="proj",
        since=START,
        until=START + timedelta(hours=2),
    )
    assert empty["predictions"]["total"] == 0
    for _title, chart in drift_charts(empty):
        assert "no " in chart.svg and "<polyline" not in chart.svg

"""The prediction record: one pixel-free row per served image, as Arrow/Parquet.

``SCHEMA`` is the contract readers rely on (docs/reference/prediction-log.md;
the backtest and the drift charts read it): every segment the log writes, and
every segment the platform accepts, has exactly these columns and types.

:class:`Entry` (``winnow.predlog.entry``, re-exported here) is what the serving side hands over after the response: plain
references (the prediction object itself, no conversion); :func:`to_table`
turns a list of them into a table off the request path (the log's flush
thread), which is where ``objects`` are built and capped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from winnow.predictions import (
    ClassificationPrediction,
    DetectionPrediction,
    Prediction,
    StubPrediction,
)
from winnow.predlog.entry import Entry

__all__ = ["COLUMNS", "OBJECT", "SCHEMA", "Entry", "conform", "objects_of", "task_of", "to_table"]

OBJECT = pa.struct(
    [
        pa.field("class", pa.string()),
        pa.field("confidence", pa.float32()),
        pa.field("x", pa.float32()),
        pa.field("y", pa.float32()),
        pa.field("w", pa.float32()),
        pa.field("h", pa.float32()),
    ]
)

SCHEMA = pa.schema(
    [
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("node", pa.string(), nullable=False),
        pa.field("workspace", pa.string(), nullable=False),
        pa.field("project", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("inference_id", pa.string(), nullable=False),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("objects", pa.list_(OBJECT)),
        pa.field("objects_total", pa.int32()),
        pa.field("matched", pa.list_(pa.string())),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("limited_by", pa.string()),
        pa.field("paid", pa.string()),
        pa.field("config_version", pa.int32()),
    ]
)
"""The columns of every segment, in this order (see the module docstring)."""

COLUMNS = tuple(SCHEMA.names)

STUB_TASK = "stub"


def task_of(prediction: Prediction) -> str:
    """The record's ``task`` of a prediction (``stub`` for a stub model's)."""
    if isinstance(prediction, DetectionPrediction):
        return prediction.task_type.value
    if isinstance(prediction, ClassificationPrediction):
        return "multi-label-classification" if prediction.multi_label else "classification"
    return STUB_TASK


def objects_of(prediction: Prediction, cap: int) -> tuple[list[dict[str, object]], int]:
    """The record's ``objects`` (at most ``cap``, most confident first) and how many there were.

    Detections keep their class, confidence and box (centre and size in pixels, as in the
    reference JSON); classifications one entry per class confidence with a null box; a
    stub prediction has none.
    """
    if isinstance(prediction, DetectionPrediction):
        detections = prediction.detections
        total = len(detections)
        if total > cap:
            detections = sorted(detections, key=lambda d: d.confidence, reverse=True)[:cap]
        return [
            {
                "class": d.class_name,
                "confidence": d.confidence,
                "x": d.x,
                "y": d.y,
                "w": d.width,
                "h": d.height,
            }
            for d in detections
        ], total
    if isinstance(prediction, ClassificationPrediction):
        classes = prediction.classes
        total = len(classes)
        if total > cap:
            classes = sorted(classes, key=lambda c: c.confidence, reverse=True)[:cap]
        return [
            {
                "class": c.class_name,
                "confidence": c.confidence,
                "x": None,
                "y": None,
                "w": None,
                "h": None,
            }
            for c in classes
        ], total
    assert isinstance(prediction, StubPrediction)
    return [], 0


def to_table(
    entries: Sequence[Entry], *, node: str, workspaces: Sequence[str], cap: int
) -> pa.Table:
    """The entries as one table of :data:`SCHEMA`; ``workspaces[i]`` is entry i's workspace."""
    columns: dict[str, list[object]] = {name: [] for name in COLUMNS}
    for entry, workspace in zip(entries, workspaces, strict=True):
        objects, total = objects_of(entry.prediction, cap)
        columns["time"].append(entry.time)
        columns["node"].append(node)
        columns["workspace"].append(workspace)
        columns["project"].append(entry.project)
        columns["source"].append(entry.source)
        columns["model_id"].append(entry.model_id)
        columns["task"].append(task_of(entry.prediction))
        columns["inference_id"].append(entry.inference_id)
        columns["width"].append(entry.width)
        columns["height"].append(entry.height)
        columns["objects"].append(objects)
        columns["objects_total"].append(total)
        columns["matched"].append(list(entry.matched))
        columns["outcome"].append(entry.outcome)
        columns["limited_by"].append(entry.limited_by)
        columns["paid"].append(entry.paid)
        columns["config_version"].append(entry.config_version)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """``table`` with exactly :data:`SCHEMA` (columns selected and cast); ValueError naming
    the first missing column or a type that cannot be cast."""
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"segment lacks column {missing[0]!r}")
    try:
        return table.select(list(COLUMNS)).cast(SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
        raise ValueError(f"segment columns do not fit the record schema: {exc}") from None


def record_to_json(row: dict[str, object]) -> dict[str, object]:
    """One record (a row as a dict of Python values) as JSON values: time in ISO 8601 UTC."""
    out = dict(row)
    time = out.get("time")
    if isinstance(time, datetime):
        out["time"] = time.isoformat().replace("+00:00", "Z")
    return out

"""Prediction records as numpy columns, and one record as the ``Prediction`` it logged.

The records are the prediction log's rows (one per served image; the Arrow
schema is :data:`RECORD_SCHEMA`, written by ``winnow.predlog``). The backtest
reads them column-wise: :func:`columns` sorts a table by time (stable, so
records of one microsecond keep their order), flattens the objects of every
record into one array per field (``obj_record`` says whose object each is)
and dictionary-encodes the strings, so matching is numpy arithmetic over
integer codes and floats.

What a record cannot say exactly, and how the backtest reads it:

- objects past the log's cap (``objects_total`` > the objects kept) are the
  least confident ones; a count over *all* objects uses ``objects_total``, a
  count over selected classes or close confidences sees only the kept ones;
- confidences are float32 in the log: the backtest compares the float32 value
  (widened to float64, as Python would) where the live decision saw float64;
- multi-label ``predicted_classes`` (classes over the request's confidence)
  are the objects flagged ``predicted`` when the log has that field, else
  those with confidence >= the default confidence (0.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from winnow.models.base import DEFAULT_CONFIDENCE
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    ImageSize,
    Prediction,
    StubPrediction,
    TaskType,
)

OBJECT_TYPE: Final = pa.struct(
    [
        ("class", pa.string()),
        ("confidence", pa.float32()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("w", pa.float32()),
        ("h", pa.float32()),
    ]
)
RECORD_SCHEMA: Final = pa.schema(
    [
        ("time", pa.timestamp("us", tz="UTC")),
        ("node", pa.string()),
        ("workspace", pa.string()),
        ("project", pa.string()),
        ("source", pa.string()),
        ("model_id", pa.string()),
        ("task", pa.string()),
        ("inference_id", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("objects", pa.list_(OBJECT_TYPE)),
        ("objects_total", pa.int32()),
        ("matched", pa.list_(pa.string())),
        ("outcome", pa.string()),
        ("limited_by", pa.string()),
        ("paid", pa.string()),
        ("config_version", pa.int32()),
    ]
)
"""The prediction record as the log stores it (see docs/reference/prediction-log)."""

DETECTION_TASKS: Final = frozenset(
    (
        TaskType.OBJECT_DETECTION.value,
        TaskType.INSTANCE_SEGMENTATION.value,
        TaskType.KEYPOINT_DETECTION.value,
    )
)
CLASSIFICATION: Final = TaskType.CLASSIFICATION.value
MULTI_LABEL: Final = "multi-label-classification"
US_PER_SECOND: Final = 1_000_000

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def codes_of(array: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Dictionary codes (-1 for null) and the dictionary of a string column."""
    encoded = pc.dictionary_encode(array)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    if encoded.null_count:
        codes = np.where(encoded.is_valid().to_numpy(zero_copy_only=False), codes, -1)
    return codes.astype(np.int32, copy=False), [str(v) for v in encoded.dictionary.to_pylist()]


def _lookup(dictionary: list[str], names: frozenset[str]) -> BoolArray:
    """A table indexed by code: True for the codes of ``names``; code -1 (null) reads False."""
    table = np.zeros(len(dictionary) + 1, dtype=bool)
    table[: len(dictionary)] = [value in names for value in dictionary]
    return table


def _floats(array: pa.Array) -> FloatArray:
    """A float column as float64, nulls as NaN (so every comparison with them is False)."""
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass
class Columns:
    """The records of a table sorted by time, as numpy columns (see the module doc)."""

    table: pa.Table  # sorted by time
    time_us: IntArray
    source_codes: npt.NDArray[np.int32]
    sources: list[str]
    task_codes: npt.NDArray[np.int32]
    tasks: list[str]
    offsets: IntArray  # objects of record i: offsets[i]:offsets[i + 1]
    objects_total: IntArray
    _objects: pa.StructArray = field(repr=False)
    _fields: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """How many records."""
        return len(self.time_us)

    @cached_property
    def obj_record(self) -> IntArray:
        """The record index of every object."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.offsets))

    @cached_property
    def _class_codes(self) -> tuple[npt.NDArray[np.int32], list[str]]:
        return codes_of(self._objects.field("class"))

    @property
    def obj_class(self) -> npt.NDArray[np.int32]:
        """Every object's class as a code into :attr:`classes` (-1: none)."""
        return self._class_codes[0]

    @property
    def classes(self) -> list[str]:
        """The class names the codes of :attr:`obj_class` index."""
        return self._class_codes[1]

    def obj_in(self, names: frozenset[str] | None) -> BoolArray:
        """Per object: its class is one of ``names`` (every object when None)."""
        if names is None:
            return np.ones(len(self.obj_class), dtype=bool)
        return _lookup(self.classes, names)[self.obj_class]

    @cached_property
    def obj_confidence(self) -> FloatArray:
        """Every object's confidence (float32 widened to float64; null: NaN)."""
        return _floats(self._objects.field("confidence"))

    def obj_field(self, name: str) -> FloatArray:
        """Another float field of the objects (``x``, ``y``, ``w``, ``h``) as float64 (kept)."""
        known = self._fields.get(name)
        if known is None:
            known = self._fields[name] = _floats(self._objects.field(name))
        return known

    @cached_property
    def obj_predicted(self) -> BoolArray:
        """Multi-label: whether each class was predicted (see the module doc)."""
        if self._objects.type.get_field_index("predicted") >= 0:
            flags = self._objects.field("predicted").fill_null(False)
            return np.asarray(flags.to_numpy(zero_copy_only=False), dtype=bool)
        return self.obj_confidence >= DEFAULT_CONFIDENCE

    @cached_property
    def obj_is_top(self) -> BoolArray:
        """Per object: it is its record's top class (the first of the highest confidence)."""
        conf = self.obj_confidence
        top = np.zeros(len(conf), dtype=bool)
        if not len(conf):
            return top
        counts = np.diff(self.offsets)
        filled = np.flatnonzero(counts)
        # The log keeps objects highest first: then the top is each record's first object.
        falls = conf[1:] <= conf[:-1]
        falls[self.offsets[filled[1:]] - 1] = True  # a new record may start higher
        if bool(falls.all()):
            top[self.offsets[filled]] = True
            return top
        peak = np.fmax.reduceat(np.where(np.isnan(conf), -np.inf, conf), self.offsets[filled])
        best = np.full(self.n, np.inf)
        best[filled] = peak
        candidates = np.flatnonzero(conf == best[self.obj_record])
        _, first = np.unique(self.obj_record[candidates], return_index=True)
        top[candidates[first]] = True
        return top

    @cached_property
    def predictions(self) -> list[Prediction]:
        """Every record as the ``Prediction`` it logged (equal to :func:`record_prediction` of
        each row), built once from the columns: for the strategies the samplers judge one
        record at a time."""
        names = np.asarray([*self.classes, ""], dtype=object)
        cls = names[self.obj_class].tolist()  # code -1 reads the "" appended
        conf = self.obj_confidence.tolist()
        xs, ys, ws, hs = (self.obj_field(f).tolist() for f in ("x", "y", "w", "h"))
        predicted = self.obj_predicted.tolist()
        table = self.table
        widths = table.column("width").fill_null(0).to_pylist()
        heights = table.column("height").fill_null(0).to_pylist()
        models = table.column("model_id").to_pylist()
        offsets = self.offsets.tolist()
        tasks = [self.tasks[c] if c >= 0 else "" for c in self.task_codes.tolist()]
        out: list[Prediction] = []
        for i, task in enumerate(tasks):
            a, b = offsets[i], offsets[i + 1]
            image = ImageSize(int(widths[i]), int(heights[i]))
            if task in DETECTION_TASKS:
                detections = [
                    Detection(xs[j], ys[j], ws[j], hs[j], conf[j], cls[j], -1) for j in range(a, b)
                ]
                out.append(DetectionPrediction(TaskType(task), image, detections))
            elif task in (CLASSIFICATION, MULTI_LABEL):
                scores = [ClassScore(cls[j], -1, conf[j]) for j in range(a, b)]
                order = sorted(scores, key=lambda c: c.confidence, reverse=True)
                if task == CLASSIFICATION:
                    top = [order[0].class_name] if order else []
                    out.append(ClassificationPrediction(image, order, predicted_classes=top))
                else:
                    chosen = [cls[j] for j in range(a, b) if predicted[j]]
                    out.append(
                        ClassificationPrediction(
                            image, order, multi_label=True, predicted_classes=chosen
                        )
                    )
            else:
                out.append(StubPrediction(model_id=str(models[i] or ""), task_type=task))
        return out

    def task_in(self, names: frozenset[str] | tuple[str, ...]) -> BoolArray:
        """Per record: its task is one of ``names``."""
        return _lookup(self.tasks, frozenset(names))[self.task_codes]

    def per_record(self, obj_mask: BoolArray) -> IntArray:
        """How many objects of each record ``obj_mask`` holds for."""
        running = np.zeros(len(obj_mask) + 1, dtype=np.int64)
        np.cumsum(obj_mask, out=running[1:])
        return running[self.offsets[1:]] - running[self.offsets[:-1]]


def columns(table: pa.Table) -> Columns:
    """The table's records sorted by time (stably), as :class:`Columns`."""
    time = pc.cast(table.column("time"), pa.int64())
    time_us = np.asarray(time.to_numpy(), dtype=np.int64)
    if len(time_us) > 1 and bool(np.any(time_us[1:] < time_us[:-1])):
        order = np.argsort(time_us, kind="stable")
        table = table.take(pa.array(order))
        time_us = time_us[order]
    objects = table.column("objects").combine_chunks()
    if objects.null_count:
        objects = objects.fill_null(pa.scalar([], type=objects.type))
    # offsets relative to the flattened values (a sliced array starts past 0)
    raw = np.asarray(objects.offsets.to_numpy(), dtype=np.int64)
    offsets = raw - raw[0]
    flat = objects.flatten()
    source_codes, sources = codes_of(table.column("source"))
    task_codes, tasks = codes_of(table.column("task"))
    total = table.column("objects_total").fill_null(0)
    return Columns(
        table=table,
        time_us=time_us,
        source_codes=source_codes,
        sources=sources,
        task_codes=task_codes,
        tasks=tasks,
        offsets=offsets,
        objects_total=np.asarray(total.to_numpy(), dtype=np.int64),
        _objects=flat,
    )


def record_prediction(record: dict[str, Any]) -> Prediction:
    """The prediction a record logged (``record`` as ``table.to_pylist()`` gives it).

    The backtest's fallback for strategies it has no vectorized form of: the
    record becomes the ``Prediction`` the samplers judge. Detection-family boxes
    keep centre, size, class and confidence (class ids are unknown: -1);
    classification keeps every class confidence in the logged order.
    """
    task = record.get("task") or ""
    image = ImageSize(int(record.get("width") or 0), int(record.get("height") or 0))
    objects = record.get("objects") or []
    if task in DETECTION_TASKS:
        detections = [
            Detection(
                x=_num(o.get("x")),
                y=_num(o.get("y")),
                width=_num(o.get("w")),
                height=_num(o.get("h")),
                confidence=_num(o.get("confidence")),
                class_name=str(o.get("class") or ""),
                class_id=-1,
            )
            for o in objects
        ]
        return DetectionPrediction(TaskType(task), image, detections)
    if task in (CLASSIFICATION, MULTI_LABEL):
        scores = [
            ClassScore(str(o.get("class") or ""), -1, _num(o.get("confidence"))) for o in objects
        ]
        order = sorted(scores, key=lambda c: c.confidence, reverse=True)
        if task == CLASSIFICATION:
            return ClassificationPrediction(
                image, order, predicted_classes=[order[0].class_name] if order else []
            )
        predicted = [
            str(o.get("class") or "")
            for o in objects
            if (
                o["predicted"]
                if "predicted" in o
                else _num(o.get("confidence")) >= DEFAULT_CONFIDENCE
            )
        ]
        return ClassificationPrediction(image, order, multi_label=True, predicted_classes=predicted)
    return StubPrediction(model_id=str(record.get("model_id") or ""), task_type=task)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)

"""PredictionLog: records as the schema says, segments rotate, a crash loses nothing closed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.factories import FakeClock, prediction_entry
from winnow.metrics import Metrics
from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    ImageSize,
    TaskType,
)
from winnow.predlog.query import RecordStore, read_records
from winnow.predlog.record import SCHEMA
from winnow.predlog.writer import PredictionLog


def open_log(tmp_path: Path, clock: FakeClock | None = None, **options: object) -> PredictionLog:
    return PredictionLog(
        tmp_path / "predlog",
        node="n1",
        workspace_of=lambda key: {"k1": "default", "k2": "other"}[key],
        clock=clock or FakeClock(),
        **options,  # type: ignore[arg-type]
    )


def closed_rows(log: PredictionLog) -> list[dict[str, Any]]:
    store = RecordStore.local(str(log.closed_dir), flat=True)
    rows: list[dict[str, Any]] = read_records(store, workspace=None).to_pylist()
    return rows


def detections(confidences: list[float]) -> DetectionPrediction:
    return DetectionPrediction(
        task_type=TaskType.OBJECT_DETECTION,
        image=ImageSize(640, 480),
        detections=[
            Detection(
                x=10.0 + i,
                y=20.0,
                width=5.0,
                height=6.0,
                confidence=c,
                class_name=f"c{i}",
                class_id=i,
            )
            for i, c in enumerate(confidences)
        ],
    )


def test_objects_are_capped_to_the_most_confident_and_counted(tmp_path: Path) -> None:
    log = open_log(tmp_path, max_objects=2)
    log.append(
        prediction_entry("d", prediction=detections([0.2, 0.9, 0.5]), workspace=None, api_key="k1")
    )
    classes = ClassificationPrediction(
        image=ImageSize(64, 64),
        classes=[ClassScore("cat", 0, 0.7), ClassScore("dog", 1, 0.3)],
        multi_label=True,
    )
    log.append(prediction_entry("c", prediction=classes))
    log.append(prediction_entry("s"))
    assert log.flush() == 3
    (path,) = log.close_segments()
    assert pq.read_schema(path).remove_metadata() == SCHEMA.remove_metadata()
    d, c, s = closed_rows(log)
    assert [o["class"] for o in d["objects"]] == ["c1", "c2"]
    assert d["objects_total"] == 3 and d["task"] == "object-detection"
    assert d["objects"][0] == {
        "class": "c1",
        "confidence": pytest.approx(0.9),
        "x": 11.0,
        "y": 20.0,
        "w": 5.0,
        "h": 6.0,
    }
    assert d["workspace"] == "default"  # resolved from the key at flush
    assert c["task"] == "multi-label-classification"
    assert c["objects"] == [
        {
            "class": "cat",
            "confidence": pytest.approx(0.7),
            "x": None,
            "y": None,
            "w": None,
            "h": None,
        },
        {
            "class": "dog",
            "confidence": pytest.approx(0.3),
            "x": None,
            "y": None,
            "w": None,
            "h": None,
        },
    ]
    assert (s["task"], s["objects"], s["objects_total"]) == ("stub", [], 0)


def test_segments_rotate_by_age_and_size_one_workspace_each(tmp_path: Path) -> None:
    clock = FakeClock()
    log = open_log(tmp_path, clock, segment_seconds=60.0, segment_bytes=50_000)
    log.append(prediction_entry("a", workspace=None, api_key="k1"))
    log.append(prediction_entry("b", workspace=None, api_key="k2"))
    log.flush()
    assert log.closed_segments() == []  # young and small: still open
    clock.now += 60.0
    log.flush()
    first = log.closed_segments()
    assert len(first) == 2
    assert {tuple(pq.read_table(p).column("workspace").unique().to_pylist()) for p in first} == {
        ("default",),
        ("other",),
    }
    # Size: many records in one flush close the segment at once, young as it is.
    for i in range(2000):
        log.append(prediction_entry(f"x{i}", prediction=detections([0.5] * 10)))
    log.flush()
    assert len(log.closed_segments()) == 3
    names = [p.name for p in log.closed_segments()]
    assert len(set(names)) == 3 and all(n.startswith("n1.") for n in names)
    assert len(closed_rows(log)) == 2002


def test_a_full_buffer_drops_and_counts(tmp_path: Path) -> None:
    metrics = Metrics()
    log = open_log(tmp_path, buffer_records=2, metrics=metrics)
    assert [log.append(prediction_entry(str(i))) for i in range(3)] == [True, True, False]
    assert log.dropped == 1
    assert metrics.prediction_records.labels(state="dropped")._value.get() == 1
    assert log.flush() == 2


def test_records_wait_while_the_workspace_is_unknown(tmp_path: Path) -> None:
    known: dict[str, str] = {}
    log = PredictionLog(
        tmp_path / "p", node="n1", workspace_of=lambda key: known[key], clock=FakeClock()
    )
    log.append(prediction_entry("late", workspace=None, api_key="k9"))
    assert log.flush() == 0
    known["k9"] = "ws9"
    assert log.flush() == 1
    log.close_segments()
    assert [(r["inference_id"], r["workspace"]) for r in closed_rows(log)] == [("late", "ws9")]


def abandon(log: PredictionLog) -> None:
    """What a killed process leaves: open stream files, their locks released."""
    for segment in log._open.values():
        segment.handle.close()
        os.close(segment.fd)
    log._open.clear()


def test_recover_closes_what_a_dead_process_left_and_leaves_live_ones(tmp_path: Path) -> None:
    dead = open_log(tmp_path)
    for i in range(3):
        dead.append(prediction_entry(f"d{i}"))
        dead.flush()  # three batches in the stream file
    path = next(dead.open_dir.glob("*.arrows"))
    abandon(dead)
    with open(path, "ab") as handle:  # a torn last write
        handle.write(b"\xff\xff\xff\xff\x10\x00\x00\x00garbage")
    live = open_log(tmp_path)
    live.append(prediction_entry("live"))
    live.flush()

    survivor = open_log(tmp_path)
    (recovered,) = survivor.recover()
    assert recovered.name == path.name.replace(".arrows", ".parquet")
    assert [r["inference_id"] for r in closed_rows(survivor)] == ["d0", "d1", "d2"]
    assert recovered.with_suffix(".key").read_text() == "test-key-0123456789"
    assert len(list(survivor.open_dir.glob("*.arrows"))) == 1  # the live one, untouched
    assert survivor.recover() == []
    live.close_segments()
    assert sorted(r["inference_id"] for r in closed_rows(survivor)) == ["d0", "d1", "d2", "live"]


def test_stop_flushes_and_closes(tmp_path: Path) -> None:
    log = open_log(tmp_path, flush_seconds=3600.0)
    log.start()
    log.append(prediction_entry("z"))
    log.stop()
    assert [r["inference_id"] for r in closed_rows(log)] == ["z"]
    assert list(log.open_dir.iterdir()) == []
    assert isinstance(pq.read_table(log.closed_segments()[0]), pa.Table)

"""The datapoint metadata codec: round trips (alone and through the outbox), versions, errors."""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.activelearning.datapoint import (
    SCHEMA_VERSION,
    Datapoint,
    DatapointMetadata,
    metadata_from_json,
    metadata_to_json,
)
from winnow.activelearning.outbox import Outbox
from winnow.errors import BadRequestError

TEXT = st.text(max_size=40)
OPTIONAL_TEXT = st.none() | TEXT
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | TEXT
    | st.floats(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=4)
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "batch_name": TEXT,
    "tags": st.lists(TEXT, max_size=4).map(tuple),
    "prediction": st.none() | OBJECTS,
    "task_type": OPTIONAL_TEXT,
    "created_at": st.none() | INSTANTS,
    "extra": st.none() | OBJECTS,
    "strategy": OPTIONAL_TEXT,
    "model_id": OPTIONAL_TEXT,
    "inference_id": OPTIONAL_TEXT,
    "source": OPTIONAL_TEXT,
    "source_info": OPTIONAL_TEXT,
    "config_version": st.none() | st.integers(min_value=-(2**31), max_value=2**31),
    "idempotency_key": OPTIONAL_TEXT,
    "name": OPTIONAL_TEXT,
}
METADATA = st.builds(DatapointMetadata, **FIELDS)


def test_the_strategy_covers_every_field() -> None:
    # A field added to the type without a generator here would go untested.
    assert set(FIELDS) == {f.name for f in fields(DatapointMetadata)} - {"where"}


@given(METADATA)
def test_metadata_round_trips_through_the_codec_and_json_text(meta: DatapointMetadata) -> None:
    encoded = metadata_to_json(meta)
    assert encoded["v"] == SCHEMA_VERSION
    text = json.dumps(encoded, allow_nan=False)
    assert metadata_from_json(json.loads(text)) == meta


@given(METADATA)
def test_the_prediction_can_be_left_out_for_a_part_of_its_own(meta: DatapointMetadata) -> None:
    encoded = metadata_to_json(meta, prediction=False)
    assert "prediction" not in encoded
    assert metadata_from_json(encoded).prediction is None
    assert metadata_to_json(metadata_from_json(encoded), prediction=False) == encoded


_EXAMPLES = itertools.count()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(meta=METADATA, created=INSTANTS)
def test_datapoints_round_trip_through_the_outbox(
    tmp_path: Path, meta: DatapointMetadata, created: datetime
) -> None:
    key = uuid.UUID(int=next(_EXAMPLES))  # a fresh outbox file and key per example
    values = {f.name: getattr(meta, f.name) for f in fields(DatapointMetadata)}
    values.update(idempotency_key=key.hex, created_at=created)
    datapoint = Datapoint(
        api_key="key-1", project="proj", image_jpeg=b"\xff\xd8\xff" + key.bytes, width=64,
        height=48, **values,
    )  # fmt: skip
    outbox = Outbox(tmp_path / f"{key.hex}.db", max_bytes=10**7, synchronous="NORMAL")
    try:
        entry_id = outbox.put(datapoint)
        entry = outbox.get(entry_id)
        assert entry is not None
        assert entry.datapoint == datapoint
        assert entry.datapoint.metadata == DatapointMetadata(**values)
    finally:
        outbox.close()


def test_an_outbox_row_written_before_the_codec_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path, max_bytes=10**6).close()
    legacy = {
        "api_key": "key-1",
        "project": "proj",
        "batch_name": "al_2026_11_28",
        "width": 640,
        "height": 480,
        "prediction": {"image": {"width": 640, "height": 480}, "predictions": []},
        "task_type": "object-detection",
        "tags": ["a", "b:c"],
        "strategy": "random",
        "model_id": "proj/3",
        "inference_id": "inf-1",
        "source": "stream:cam1",
        "config_version": 7,
        "created_at": "2026-11-28T10:00:00.123456+00:00",
    }
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO entries (idempotency_key, status, attempts, next_attempt_at, created_at, "
            "size, metadata, jpeg) VALUES ('k1', 'pending', 0, 0, 0, 10, ?, X'FFD8FF')",
            (json.dumps(legacy),),
        )
    outbox = Outbox(path, max_bytes=10**6)
    try:
        (entry,) = outbox.claim(10, 1e10)
    finally:
        outbox.close()
    dp = entry.datapoint
    assert (dp.idempotency_key, dp.api_key, dp.project, dp.batch_name) == (
        "k1",
        "key-1",
        "proj",
        "al_2026_11_28",
    )
    assert (dp.width, dp.height, dp.tags, dp.config_version, dp.extra) == (
        640,
        480,
        ("a", "b:c"),
        7,
        None,
    )
    assert dp.created_at == datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
    assert dp.prediction == legacy["prediction"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "metadata: must be a JSON object"),
        ({"tags": []}, "metadata.batch: required, the name of the labeling batch"),
        ({"batch": 3}, "metadata.batch: must be a string"),
        ({"batch": "b", "tags": "x"}, "metadata.tags: must be a list of strings"),
        ({"batch": "b", "tags": ["a", 1]}, "metadata.tags: must be a list of strings"),
        ({"batch": "b", "config_version": "3"}, "metadata.config_version: must be an integer"),
        ({"batch": "b", "config_version": True}, "metadata.config_version: must be an integer"),
        ({"batch": "b", "extra": [1]}, "metadata.extra: must be a JSON object"),
        ({"batch": "b", "strategy": 5}, "metadata.strategy: must be a string"),
        (
            {"batch": "b", "created_at": "2026-11-28T10:00:00"},
            "metadata.created_at: must be an ISO 8601 time with a UTC offset",
        ),
        ({"batch": "b", "created_at": "yesterday"}, "metadata.created_at: must be an ISO 8601"),
        ({"batch": "b", "v": 0}, "metadata.v: must be a positive integer"),
        ({"batch": "b", "v": 99}, "metadata.v: layout version 99 is newer than this reader's 1"),
    ],
)
def test_wrong_json_types_are_400_naming_the_field(obj: Any, message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        metadata_from_json(obj, where="metadata")
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.status == 400


def test_unknown_keys_are_ignored_and_where_names_fields_in_later_checks() -> None:
    meta = metadata_from_json({"batch": "b", "camera": "north", "v": 1}, where="metadata")
    assert meta == DatapointMetadata(batch_name="b")
    assert meta.where == "metadata."
    assert metadata_from_json({"batch": "b"}).where == ""

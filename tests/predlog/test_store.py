"""The platform's segments: the same code stores, queries and expires them locally and in S3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import KEY, prediction_entry, prediction_segment
from winnow.platform.service import Platform
from winnow.predlog.query import query, read_records
from winnow.settings import Settings

DAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def platform(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Platform]:
    chosen = settings
    if request.param == "s3":
        chosen = request.getfixturevalue("s3_settings")
    opened = Platform.open(chosen.model_copy(update={"api_key": KEY}))
    yield opened
    opened.close()


def segment(day: datetime, ids: list[str], seq: int = 1, **fields: object) -> tuple[str, bytes]:
    entries = [
        prediction_entry(i, time=day + timedelta(minutes=n), **fields) for n, i in enumerate(ids)
    ]
    return prediction_segment(entries, started=day.strftime("%Y%m%dT%H%M%S"), seq=seq)


def test_records_are_queried_in_place_by_window_and_workspace(platform: Platform) -> None:
    store = platform.predictions
    for seq, (day, ids) in enumerate(
        [(DAY - timedelta(days=1), ["old"]), (DAY, ["a", "b"]), (DAY + timedelta(days=1), ["new"])],
        start=1,
    ):
        name, data = segment(day, ids, seq)
        assert store.store_segment(workspace="default", name=name, data=data)
        assert not store.store_segment(workspace="default", name=name, data=data)
    name, data = segment(DAY, ["theirs"], 9, workspace="other")
    assert store.store_segment(workspace="other", name=name, data=data)

    records = store.records
    everything = read_records(records, workspace="default")
    assert everything.column("inference_id").to_pylist() == ["old", "a", "b", "new"]
    window = read_records(
        records,
        workspace="default",
        since=DAY,
        until=DAY + timedelta(hours=1),
        columns=["inference_id"],
    )
    assert window.column_names == ["inference_id"]
    assert window.column("inference_id").to_pylist() == ["a", "b"]
    assert read_records(records, workspace="other").column("inference_id").to_pylist() == ["theirs"]
    counts = query(
        records, "SELECT outcome, count(*) AS n FROM records GROUP BY outcome", workspace="default"
    )
    assert counts.to_pylist() == [{"outcome": "queued", "n": 4}]
    found = store.find("default", "b")
    assert found is not None and found["inference_id"] == "b" and found["image_id"] is None
    assert store.find("other", "b") is None


def test_retention_deletes_by_age_then_oldest_past_the_byte_bound(
    platform: Platform,
) -> None:
    store = platform.predictions
    sizes = []
    for seq, age in enumerate((40, 3, 2, 1), start=1):
        name, data = segment(DAY - timedelta(days=age), [f"d{age}"], seq)
        store.store_segment(workspace="default", name=name, data=data)
        sizes.append(len(data))
    bound = sizes[2] + sizes[3]  # room for the two youngest only
    store.settings = store.settings.model_copy(
        update={"predlog_retention_days": 30.0, "predlog_retention_bytes": bound}
    )
    result = store.sweep(now=DAY)
    assert (result.deleted, result.kept) == (2, 2)  # 40 days old; then the oldest past the bound
    assert result.kept_bytes == bound
    assert read_records(store.records, workspace="default").column("inference_id").to_pylist() == [
        "d2",
        "d1",
    ]
    assert store.sweep(now=DAY).deleted == 0

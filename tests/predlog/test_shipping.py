"""Shipping closed segments: a platform outage, a lost answer and a restart lose and
duplicate nothing; a refusal is set aside; the native HTTP route speaks the same contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import platform_app
from tests.factories import KEY, FakeClock, prediction_entry, workspace_with_key
from tests.live_server import free_port, serve
from winnow.errors import DeliveryError
from winnow.platform.clients.predlog import InProcessSegmentSink, NativeHTTPSegmentSink
from winnow.platform.service import Platform
from winnow.predlog.query import read_records
from winnow.predlog.shipping import Shipper
from winnow.predlog.writer import PredictionLog
from winnow.settings import Settings


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    opened = Platform.open(settings)
    yield opened
    opened.close()


class Flaky:
    """A sink in front of the platform: down for ``down`` calls, then up; ``lose`` answers
    are lost after the platform stored the segment (the caller sees an error)."""

    def __init__(self, inner: InProcessSegmentSink, *, down: int = 0, lose: int = 0) -> None:
        self.inner, self.down, self.lose, self.calls = inner, down, lose, 0

    def put_segment(self, name: str, data: bytes, *, workspace: str, api_key: str) -> bool:
        self.calls += 1
        if self.down > 0:
            self.down -= 1
            raise DeliveryError("platform unreachable", retryable=True)
        stored = self.inner.put_segment(name, data, workspace=workspace, api_key=api_key)
        if self.lose > 0:
            self.lose -= 1
            raise ConnectionResetError("answer lost")
        return stored


def write_segments(directory: Path, count: int, per: int = 3) -> list[str]:
    """``count`` closed segments of ``per`` records each; their inference ids in order."""
    clock = FakeClock()
    log = PredictionLog(directory, node="n1", workspace_of=lambda key: "default", clock=clock)
    ids = []
    for s in range(count):
        for r in range(per):
            ids.append(f"s{s}r{r}")
            log.append(prediction_entry(ids[-1]))
        log.flush()
        log.close_segments()
        clock.now += 1.0  # next segment's name sorts after
    return ids


def stored_ids(platform: Platform) -> list[str]:
    table = read_records(platform.predictions.records, workspace="default")
    return [str(i) for i in table.column("inference_id").to_pylist()]


def test_an_outage_a_lost_answer_and_a_restart_lose_and_duplicate_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    directory = tmp_path / "predlog"
    ids = write_segments(directory, 3)
    sink = Flaky(InProcessSegmentSink(platform), down=2, lose=1)
    shipper = Shipper(directory / "closed", sink)
    assert shipper.ship_once() == 0  # down: nothing removed locally
    assert shipper.ship_once() == 0
    assert len(list((directory / "closed").glob("*.parquet"))) == 3
    assert stored_ids(platform) == []
    assert shipper.ship_once() == 0  # stored, but the answer was lost: kept locally
    assert stored_ids(platform) == ids[:3]
    # A restart: a new shipper on the same folder finishes the job.
    restarted = Shipper(directory / "closed", sink)
    assert restarted.ship_once() == 3
    assert list((directory / "closed").iterdir()) == []
    assert stored_ids(platform) == ids  # every record once, none twice
    assert restarted.ship_once() == 0


def test_an_unreadable_segment_is_set_aside_and_the_rest_ship(
    platform: Platform, tmp_path: Path
) -> None:
    directory = tmp_path / "predlog"
    ids = write_segments(directory, 2)
    first = sorted((directory / "closed").glob("*.parquet"))[0]
    first.write_bytes(b"not parquet at all")  # a disk fault on the node
    shipper = Shipper(directory / "closed", InProcessSegmentSink(platform))
    assert shipper.ship_once() == 1
    assert [p.name for p in (directory / "rejected").iterdir()] == [first.name]
    assert stored_ids(platform) == ids[3:]


def test_native_http_sink_stores_once_and_says_what_may_pass(
    platform: Platform, tmp_path: Path
) -> None:
    directory = tmp_path / "predlog"
    ids = write_segments(directory, 2)
    _ws, intruder = workspace_with_key(platform, "intruder")
    (path, _second) = sorted((directory / "closed").glob("*.parquet"))
    with serve(platform_app(platform)) as url:
        sink = NativeHTTPSegmentSink(url)
        data = path.read_bytes()
        assert sink.put_segment(path.name, data, workspace="default", api_key=KEY) is True
        assert sink.put_segment(path.name, data, workspace="default", api_key=KEY) is False
        with pytest.raises(DeliveryError) as refused:
            sink.put_segment(path.name, data, workspace="default", api_key=intruder)
        assert refused.value.retryable is False
        assert Shipper(directory / "closed", sink).ship_once() == 2
        sink.close()
    assert stored_ids(platform) == ids
    down = NativeHTTPSegmentSink(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DeliveryError) as unreachable:
        down.put_segment(path.name, b"x", workspace="default", api_key=KEY)
    assert unreachable.value.retryable is True
    down.close()


def test_a_refusal_moves_the_segment_aside(platform: Platform, tmp_path: Path) -> None:
    directory = tmp_path / "predlog"
    write_segments(directory, 2)
    first = sorted((directory / "closed").glob("*.parquet"))[0]
    refused = first.with_name("n1.nodate.1.abcdef.000001.parquet")
    first.rename(refused)  # a name the platform refuses (no start time)
    first.with_suffix(".key").rename(refused.with_suffix(".key"))
    shipper = Shipper(directory / "closed", InProcessSegmentSink(platform))
    assert shipper.ship_once() == 1
    assert [p.name for p in (directory / "rejected").iterdir()] == [refused.name]
    assert list((directory / "closed").iterdir()) == []
    assert len(stored_ids(platform)) == 3


def test_the_sink_follows_the_platform_protocol(platform: Platform, tmp_path: Path) -> None:
    from winnow.platform.clients import build_segment_sink

    assert isinstance(
        build_segment_sink(Settings(data_dir=tmp_path), platform), InProcessSegmentSink
    )
    native = build_segment_sink(
        Settings(data_dir=tmp_path, role="inference", platform_url="http://p:9001")
    )
    assert isinstance(native, NativeHTTPSegmentSink)
    native.close()
    reference = Settings(
        data_dir=tmp_path, role="inference", platform_url="http://p", platform_protocol="reference"
    )
    assert build_segment_sink(reference) is None  # nowhere to store segments: the log is off

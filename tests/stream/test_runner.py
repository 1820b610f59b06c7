"""The stream runner with test doubles of the model and the collector."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import KEY
from tests.stream.doubles import FakeClock, IndexModel, OneModelRegistry, RecordingCollector
from tests.stream.media import MJPEGServer, make_video, read_index
from winnow.metrics import Metrics
from winnow.stream.runner import StreamRunner
from winnow.stream.sources import PyAVSource
from winnow.stream.status import MetricsServer, SourceState, StreamMetrics, format_status


def _runner(sources: list[Any], model: object, collector: object, **kwargs: object) -> StreamRunner:
    return StreamRunner(
        sources,
        "proj/1",
        KEY,
        registry=OneModelRegistry(model),  # type: ignore[arg-type]
        collector=collector,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _predicted_index(prediction: object) -> int:
    name = prediction.detections[0].class_name  # type: ignore[attr-defined]
    return int(name.split("-")[1])


def test_frames_and_predictions_stay_paired_when_inference_fails(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 90)
    raise_on = {0, 3, 4, 17, 40, 41, 42, 89}
    empty_on = {1, 5, 18, 60, 88}
    collector = RecordingCollector()
    runner = _runner(
        [PyAVSource(str(video), source_id="cam", live=False)],
        IndexModel(raise_on=raise_on, empty_on=empty_on),
        collector,
    )
    runner.start()
    assert runner.wait(60)
    runner.stop()

    status = runner.status()[0]
    assert status.state is SourceState.ENDED
    assert status.failed == len(raise_on | empty_on)
    assert status.processed == 90 - status.failed
    assert status.dropped == 0
    seen = []
    for image, prediction, context in collector.records:
        frame_index = read_index(image)
        assert _predicted_index(prediction) == frame_index
        assert context.extra["frame_index"] == frame_index
        seen.append(frame_index)
    assert seen == [i for i in range(90) if i not in raise_on | empty_on]
    assert collector.drained == 1


def test_datapoints_carry_their_source(tmp_path: Path) -> None:
    a = make_video(tmp_path / "a.mp4", 12)
    b = make_video(tmp_path / "b.mp4", 7)
    collector = RecordingCollector()
    runner = _runner(
        [
            PyAVSource(str(a), source_id="cam-a", live=False),
            PyAVSource(str(b), source_id="dock/2", live=False),
        ],
        IndexModel(),
        collector,
    )
    runner.start()
    assert runner.wait(60)
    runner.stop()
    by_source: dict[str, int] = {}
    for _image, _prediction, context in collector.records:
        sid = context.source.removeprefix("stream:")
        assert context.source_tags == (f"source:{sid}",)
        assert context.project == "proj"
        assert context.model_id == "proj/1"
        assert context.api_key == KEY
        by_source[sid] = by_source.get(sid, 0) + 1
    assert by_source == {"cam-a": 12, "dock/2": 7}
    assert len({c.inference_id for _i, _p, c in collector.records}) == 19
    assert [s.collected for s in runner.status()] == [12, 7]


def test_max_fps_spaces_processed_frames(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 30)
    clock = FakeClock()
    times: list[float] = []

    class TimedModel(IndexModel):
        def infer(self, images, params):  # type: ignore[no-untyped-def]
            times.append(clock())
            return super().infer(images, params)

    collector = RecordingCollector()
    runner = _runner(
        [PyAVSource(str(video), source_id="cam", live=False)],
        TimedModel(),
        collector,
        max_fps=5,
        clock=clock,
        sleep=clock.sleep,
    )
    runner.start()
    assert runner.wait(60)
    runner.stop()
    # A file loses no frame; the limit makes the model wait instead.
    assert len(times) == 30
    assert len(collector.records) == 30
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.2 - 1e-9
    assert times[-1] - times[0] == pytest.approx(29 * 0.2, abs=0.05)


def test_unreadable_file_ends_with_its_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    runner = _runner(
        [PyAVSource(str(broken), source_id="bad", live=False)], IndexModel(), RecordingCollector()
    )
    runner.start()
    assert runner.wait(30)
    runner.stop()
    status = runner.status()[0]
    assert status.state is SourceState.ENDED
    assert status.last_error is not None
    assert "cannot open" in status.last_error
    assert status.processed == 0


def test_realtime_file_drops_frames_a_slow_model_cannot_keep_up_with(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 30, fps=30)

    class SlowModel(IndexModel):
        def infer(self, images, params):  # type: ignore[no-untyped-def]
            time.sleep(0.1)
            return super().infer(images, params)

    collector = RecordingCollector()
    runner = _runner(
        [PyAVSource(str(video), source_id="cam", live=False)], SlowModel(), collector, realtime=True
    )
    runner.start()
    assert runner.wait(30)
    runner.stop()
    status = runner.status()[0]
    assert status.dropped > 0
    assert status.processed + status.dropped == 30
    indexes = [read_index(image) for image, _p, _c in collector.records]
    assert indexes == sorted(indexes)


def test_live_source_keeps_only_the_newest_frame_and_respects_max_fps() -> None:
    server = MJPEGServer(fps=30)
    server.start()
    try:
        collector = RecordingCollector()
        runner = _runner(
            [PyAVSource(server.url, source_id="live", live=True)],
            IndexModel(),
            collector,
            max_fps=4,
        )
        runner.start()
        _until(lambda: runner.status()[0].processed >= 2)
        started, first = time.monotonic(), runner.status()[0].processed
        time.sleep(1.5)
        done = runner.status()[0].processed - first
        elapsed = time.monotonic() - started
        runner.stop()
    finally:
        server.stop()
    status = runner.status()[0]
    # Generous bounds: at most 4 per second (plus one), and not stalled.
    assert 1 <= done <= 4 * elapsed + 2
    assert status.dropped > status.processed
    indexes = [read_index(image) for image, _p, _c in collector.records]
    assert indexes == sorted(indexes)
    assert len(set(indexes)) == len(indexes)


def test_live_source_reconnects_after_the_server_comes_back() -> None:
    server = MJPEGServer(fps=20)
    server.start()
    metrics = Metrics()
    collector = RecordingCollector()
    runner = _runner(
        [PyAVSource(server.url, source_id="cam1", live=True, read_timeout=2.0)],
        IndexModel(),
        collector,
        metrics=StreamMetrics(metrics),
        backoff_base=0.1,
        backoff_max=0.5,
    )
    states: list[SourceState] = []

    def watch(target: SourceState) -> Callable[[], bool]:
        def check() -> bool:
            state = runner.status()[0].state
            if not states or states[-1] is not state:
                states.append(state)
            return state is target

        return check

    try:
        runner.start()
        _until(watch(SourceState.RUNNING))
        _until(lambda: runner.status()[0].processed >= 3)
        server.stop()
        _until(watch(SourceState.RECONNECTING))
        before = runner.status()[0].processed
        time.sleep(0.5)  # a few failed attempts while the server is away
        server.start()
        _until(watch(SourceState.RUNNING))
        _until(lambda: runner.status()[0].processed >= before + 3)
        text = metrics.render().decode()
        runner.stop()
    finally:
        server.stop()
    assert states[:1] in ([SourceState.CONNECTING], [SourceState.RUNNING])
    assert SourceState.RECONNECTING in states
    assert states[-1] is SourceState.RUNNING
    status = runner.status()[0]
    assert status.reconnects >= 1
    assert status.state is SourceState.ENDED
    assert 'winnow_stream_source_state{source="cam1",state="running"} 1.0' in text
    assert 'winnow_stream_frames_total{outcome="processed",source="cam1"}' in text


def test_metrics_server_serves_the_stream_series(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 5)
    metrics = Metrics()
    runner = _runner(
        [PyAVSource(str(video), source_id="cam", live=False)],
        IndexModel(),
        RecordingCollector(),
        metrics=StreamMetrics(metrics),
    )
    server = MetricsServer(metrics, port=0)
    server.start()
    try:
        runner.start()
        assert runner.wait(30)
        runner.stop()
        body = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
        missing = httpx.get(f"http://127.0.0.1:{server.port}/nope")
    finally:
        server.stop()
    assert 'winnow_stream_frames_total{outcome="processed",source="cam"} 5.0' in body
    assert 'winnow_stream_frames_total{outcome="collected",source="cam"} 5.0' in body
    assert 'winnow_stream_source_state{source="cam",state="ended"} 1.0' in body
    assert missing.status_code == 404


def test_status_line_names_state_and_counts() -> None:
    from winnow.stream.status import SourceStatus

    line = format_status(
        [
            SourceStatus("cam1", SourceState.RUNNING, 120, 30, 0, 4, 0, None),
            SourceStatus("door", SourceState.RECONNECTING, 5, 0, 1, 0, 3, "connection refused"),
        ]
    )
    assert line == (
        "cam1 running 120 ok 30 dropped 4 collected | "
        "door reconnecting 5 ok 1 failed (connection refused)"
    )


def test_stop_does_not_wait_for_a_silent_live_source() -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=f\r\n\r\n"
        )
        accepted.append(conn)  # then silence

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/video"
    collector = RecordingCollector()
    runner = _runner(
        [PyAVSource(url, source_id="mute", live=True, open_timeout=30, read_timeout=30)],
        IndexModel(),
        collector,
    )
    try:
        runner.start()
        _until(lambda: bool(accepted))
        runner.stop(reader_grace=0.2)
        # The reader is still blocked in the silent source; the runner did not wait for it.
        reader = runner._runs[0].reader
        assert reader is not None and reader.is_alive()
        assert runner.status()[0].state is SourceState.ENDED
        assert collector.drained == 1
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_live_source_gives_up_after_max_reconnects() -> None:
    server = MJPEGServer()
    server.start()
    url = server.url
    server.stop()  # nothing listens on that port any more
    runner = _runner(
        [PyAVSource(url, source_id="gone", live=True, open_timeout=2, read_timeout=2)],
        IndexModel(),
        RecordingCollector(),
        backoff_base=0.01,
        backoff_max=0.02,
        max_reconnects=3,
    )
    runner.start()
    assert runner.wait(30)
    runner.stop()
    status = runner.status()[0]
    assert status.state is SourceState.ENDED
    assert status.reconnects == 3
    assert status.last_error is not None
    assert "cannot open" in status.last_error
    assert status.processed == 0


def test_runner_arguments_are_checked(tmp_path: Path) -> None:
    from winnow.errors import StreamSourceError

    video = str(make_video(tmp_path / "v.mp4", 2))
    a = PyAVSource(video, source_id="same", live=False)
    b = PyAVSource(video, source_id="same", live=False)
    with pytest.raises(StreamSourceError, match="unique"):
        _runner([a, b], IndexModel(), None)
    with pytest.raises(StreamSourceError, match="at least one"):
        _runner([], IndexModel(), None)
    with pytest.raises(StreamSourceError, match="max_fps"):
        _runner([a], IndexModel(), None, max_fps=0)


def test_inference_only_without_a_collector(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 6)
    model = IndexModel()
    runner = _runner([PyAVSource(str(video), source_id="v", live=False)], model, None)
    runner.start()
    assert runner.wait(30)
    runner.stop()
    assert runner.status()[0].processed == 6
    assert runner.status()[0].collected == 0
    assert model.calls == 6

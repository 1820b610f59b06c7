"""The delivery worker: retries, refusals, burst draining, and exactly-once after kill -9."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.activelearning.recording_platform import RecordingPlatform
from tests.factories import FakeClock, make_datapoint
from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.errors import DeliveryError
from winnow.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]


class FlakyPlatform:
    """Fails the first ``failures`` calls (alternating error kinds), then stores by key."""

    def __init__(self, failures: int, refuse: set[str] | None = None) -> None:
        self.failures = failures
        self.refuse = refuse or set()
        self.calls = 0
        self.stored: dict[str, int] = {}
        self._lock = threading.Lock()

    def deliver(self, datapoint: Datapoint) -> str:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                if self.calls % 2:
                    raise DeliveryError("platform answered 503", retryable=True)
                raise ConnectionResetError("connection reset by peer")
            if datapoint.idempotency_key in self.refuse:
                raise DeliveryError("platform answered 400: bad annotation", retryable=False)
            self.stored[datapoint.idempotency_key] = (
                self.stored.get(datapoint.idempotency_key, 0) + 1
            )
            return f"img-{datapoint.idempotency_key[:6]}"

    def close(self) -> None:
        pass


class SleepingClock(FakeClock):
    """A fake clock whose ``sleep`` moves time forward instead of waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def count(metrics: Metrics, outcome: str, project: str = "proj", strategy: str = "random") -> float:
    value = metrics.registry.get_sample_value(
        "winnow_datapoints_total", {"project": project, "strategy": strategy, "outcome": outcome}
    )
    return value or 0.0


@pytest.mark.parametrize("concurrency", [1, 3])
def test_platform_that_fails_then_recovers_receives_everything_once(
    tmp_path: Path, concurrency: int
) -> None:
    clock = SleepingClock()
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8, clock=clock)
    keys: set[str] = set()
    for _ in range(12):
        dp = make_datapoint()
        keys.add(dp.idempotency_key)
        outbox.put(dp)
    platform = FlakyPlatform(failures=30)
    metrics = Metrics()
    worker = DeliveryWorker(
        outbox,
        platform,
        metrics=metrics,
        backoff_base=1.0,
        backoff_max=20.0,
        concurrency=concurrency,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
    )
    worker.run(burst=True, horizon=3600)
    assert platform.stored == dict.fromkeys(keys, 1)
    assert platform.calls == 30 + 12
    stats = outbox.stats()
    assert stats.counts[EntryStatus.DELIVERED] == 12
    assert stats.counts[EntryStatus.PENDING] == 0
    assert stats.bytes == 0
    assert count(metrics, "delivered") == 12
    assert metrics.registry.get_sample_value("winnow_outbox_depth", {"status": "delivered"}) == 12
    # the worker waited for retries instead of spinning: time moved forward by sleeping
    assert clock.slept
    assert all(0 <= s <= 20.0 for s in clock.slept)
    outbox.close()


def test_burst_without_horizon_tries_each_due_entry_once(tmp_path: Path) -> None:
    clock = SleepingClock()
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8, clock=clock)
    for _ in range(5):
        outbox.put(make_datapoint())
    platform = FlakyPlatform(failures=1000)
    worker = DeliveryWorker(
        outbox, platform, metrics=Metrics(), clock=clock, sleep=clock.sleep, backoff_base=0.5
    )
    worker.run(burst=True)
    assert platform.calls == 5
    stats = outbox.stats()
    assert stats.counts[EntryStatus.PENDING] == 5
    with sqlite3.connect(tmp_path / "outbox.db") as raw:
        errors = {row[0] for row in raw.execute("SELECT last_error FROM entries")}
    assert errors == {"platform answered 503", "ConnectionResetError: connection reset by peer"}


def test_non_retryable_refusal_marks_failed_and_counts(tmp_path: Path) -> None:
    clock = SleepingClock()
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8, clock=clock)
    bad = make_datapoint()
    good = [make_datapoint() for _ in range(3)]
    for dp in [*good[:1], bad, *good[1:]]:
        outbox.put(dp)
    platform = FlakyPlatform(failures=0, refuse={bad.idempotency_key})
    metrics = Metrics()
    worker = DeliveryWorker(outbox, platform, metrics=metrics, clock=clock, sleep=clock.sleep)
    worker.run(burst=True, horizon=3600)
    assert set(platform.stored) == {dp.idempotency_key for dp in good}
    stats = outbox.stats()
    assert stats.counts[EntryStatus.FAILED] == 1
    assert stats.counts[EntryStatus.DELIVERED] == 3
    assert count(metrics, "failed") == 1
    assert count(metrics, "delivered") == 3
    with sqlite3.connect(tmp_path / "outbox.db") as raw:
        (error,) = raw.execute(
            "SELECT last_error FROM entries WHERE idempotency_key = ?", (bad.idempotency_key,)
        ).fetchone()
    assert "bad annotation" in error
    outbox.close()


def test_backoff_is_full_jitter_doubling_up_to_the_cap(tmp_path: Path) -> None:
    worker = DeliveryWorker(
        Outbox(tmp_path / "outbox.db", max_bytes=1),
        FlakyPlatform(0),
        metrics=Metrics(),
        backoff_base=2.0,
        backoff_max=30.0,
        rng=random.Random(1),
    )
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (40, 30.0)]:
        samples = [worker.backoff(attempts) for _ in range(400)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.9 * ceiling  # jitter spans the whole range...
        assert min(samples) < 0.1 * ceiling  # ...from near zero


def test_start_delivers_in_the_background_and_stop_returns(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8)
    platform = FlakyPlatform(failures=0)
    worker = DeliveryWorker(outbox, platform, metrics=Metrics(), poll_interval=0.02)
    worker.start()
    keys = set()
    for _ in range(10):
        dp = make_datapoint()
        keys.add(dp.idempotency_key)
        outbox.put(dp)
    deadline = time.monotonic() + 20
    while len(platform.stored) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop(timeout=5)
    assert set(platform.stored) == keys
    assert worker._threads == []
    outbox.close()


CHILD = """
import sys
from pathlib import Path
from tests.activelearning.recording_platform import RecordingPlatform
from tests.factories import make_datapoint
from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.outbox import Outbox
from winnow.metrics import Metrics

outbox_path, platform_path, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
outbox = Outbox(outbox_path, max_bytes=10**9)
for _ in range(count):
    dp = make_datapoint(jpeg_size=20_000)
    outbox.put(dp)
    print("ACCEPTED", dp.idempotency_key, flush=True)
platform = RecordingPlatform(platform_path, delay=0.005, hang_after=count // 2)
DeliveryWorker(outbox, platform, metrics=Metrics(), concurrency=2, poll_interval=0.05).run()
"""


def test_kill_9_mid_delivery_then_restart_delivers_each_exactly_once(tmp_path: Path) -> None:
    total = 40
    outbox_path, platform_path = tmp_path / "outbox.db", tmp_path / "platform.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(outbox_path), str(platform_path), str(total)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    accepted: list[str] = []
    hung_key = None
    watchdog = threading.Timer(120, child.kill)  # never let a stuck child hang the suite
    watchdog.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            word, key = line.split()
            if word == "ACCEPTED":
                accepted.append(key)
            elif word == "HANG":
                hung_key = key
                break
        # the child is blocked inside deliver(): the platform has the key, the outbox
        # still says delivering. Kill it there.
        os.kill(child.pid, signal.SIGKILL)
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert hung_key is not None, "the child never reached the crash window"
    assert len(accepted) == total

    with sqlite3.connect(platform_path) as raw:
        before = {row[0] for row in raw.execute("SELECT key FROM images")}
    assert hung_key in before
    assert 0 < len(before) < total

    outbox = Outbox(outbox_path, max_bytes=10**9)  # a new process's open recovers
    assert outbox.stats().counts[EntryStatus.DELIVERING] == 0
    platform = RecordingPlatform(platform_path)
    DeliveryWorker(outbox, platform, metrics=Metrics(), concurrency=2).run(burst=True)
    platform.close()

    with sqlite3.connect(platform_path) as raw:
        stored = [row[0] for row in raw.execute("SELECT key FROM images")]
        calls: dict[str, int] = dict(raw.execute("SELECT key, COUNT(*) FROM calls GROUP BY key"))
    assert sorted(stored) == sorted(accepted)  # none missing, none doubled
    assert calls[hung_key] == 2  # delivered again after the crash, stored once
    assert all(calls[key] >= 1 for key in accepted)
    stats = outbox.stats()
    assert stats.counts[EntryStatus.DELIVERED] == total
    assert stats.counts[EntryStatus.PENDING] == stats.counts[EntryStatus.DELIVERING] == 0
    outbox.close()


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"WINNOW_DATA_DIR": str(tmp_path / "data"), "WINNOW_API_KEY": API_KEY, **extra}


API_KEY = "outbox-cli-key-0123456789"


def _real_datapoint() -> Datapoint:
    from winnow.images import encode_jpeg

    jpeg = encode_jpeg(np.full((48, 64, 3), 128, dtype=np.uint8), 90)
    return replace(make_datapoint(), api_key=API_KEY, image_jpeg=jpeg, width=64, height=48)


def test_cli_status_and_drain_into_the_embedded_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from winnow.cli.main import app

    for name, value in _cli_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    result = runner.invoke(app, ["outbox", "status"])
    assert result.exit_code == 0, result.output
    assert "no outbox" in result.output

    created = runner.invoke(app, ["projects", "create", "proj", "--type", "object-detection"])
    assert created.exit_code == 0, created.output
    outbox = Outbox(tmp_path / "data" / "outbox.db", max_bytes=10**8)
    keys = set()
    for _ in range(4):
        dp = _real_datapoint()
        keys.add(dp.idempotency_key)
        outbox.put(dp)
    outbox.close()

    result = runner.invoke(app, ["outbox", "status"])
    assert result.exit_code == 0, result.output
    assert re.search(r"pending\s*│\s*4", result.output), result.output

    result = runner.invoke(app, ["outbox", "drain"])
    assert result.exit_code == 0, result.output
    assert "delivered 4, refused by the platform 0, still pending 0" in result.output
    reopened = Outbox(tmp_path / "data" / "outbox.db", max_bytes=10**8)
    assert reopened.stats().counts[EntryStatus.DELIVERED] == 4
    reopened.close()


def test_cli_drain_to_an_unreachable_platform_leaves_entries_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from winnow.cli.main import app

    env = _cli_env(tmp_path, WINNOW_PLATFORM_URL="http://127.0.0.1:9")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outbox = Outbox(tmp_path / "data" / "outbox.db", max_bytes=10**8)
    outbox.put(_real_datapoint())
    outbox.close()
    result = CliRunner().invoke(app, ["outbox", "drain"])
    assert result.exit_code == 1, result.output
    assert "delivered 0, refused by the platform 0, still pending 1" in result.output


def test_worker_loops_end_when_the_outbox_is_closed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8)
    worker = DeliveryWorker(outbox, FlakyPlatform(0), metrics=Metrics(), poll_interval=0.01)
    worker.start()
    outbox.close()
    worker.stop(timeout=5)
    assert worker._threads == []

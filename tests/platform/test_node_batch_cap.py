"""An inference node and its platform: max_batch_images exact across restarts, duplicates' credit.

Real parts end to end in one process: the collector with fresh memory limits, a SQLite outbox
file kept across the "restart", the delivery worker, and the platform in process.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import KEY as API_KEY
from tests.factories import make_detections, make_pixels, new_project, set_config
from winnow.activelearning.batching import batch_name
from winnow.activelearning.collector import Collector, Outcome
from winnow.activelearning.datapoint import CollectionContext
from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.limits.memory import MemoryLimits
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.metrics import Metrics
from winnow.platform import store
from winnow.platform.clients import InProcessBatchCounter, InProcessConfigSource
from winnow.platform.clients.delivery import InProcessPlatformClient
from winnow.platform.service import Platform
from winnow.settings import Settings

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CONTEXT = CollectionContext(api_key=API_KEY, project="cars", model_id="cars/3")


def config(cap: int, **strategy: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [
            {"name": "all", "type": "random", "traffic_percentage": 1.0, **strategy}
        ],
        "batching_strategy": {
            "batches_name_prefix": "al",
            "recreation_interval": "daily",
            "max_batch_images": cap,
        },
    }


class Node:
    """One inference node's collection: fresh memory limits, the outbox file at ``path``."""

    def __init__(self, platform: Platform, path: Path, *, learns: bool = True) -> None:
        self.metrics = Metrics()
        self.outbox = Outbox(path, max_bytes=10**8)
        self.collector = Collector(
            settings=Settings(data_dir=path.parent, config_cache_seconds=0),
            config_source=InProcessConfigSource(platform),
            limits=MemoryLimits(),
            outbox=self.outbox,
            metrics=self.metrics,
            rng=random.Random(1),
            clock=lambda: NOW,
            batch_counter=InProcessBatchCounter(platform) if learns else None,
        )
        self.worker = DeliveryWorker(
            self.outbox,
            InProcessPlatformClient(platform),
            metrics=self.metrics,
            on_duplicate=lambda e: self.collector.give_back_duplicate(e.idempotency_key),
            on_batch_full=lambda e: self.collector.batch_refused(e.idempotency_key),
        )

    def send(self, seeds: range | list[int]) -> list[Outcome]:
        prediction = make_detections([(100, 60, 40, 20)], class_name=["car"], width=400, height=240)
        return [
            self.collector.process(make_pixels(400, 240, seed=seed), prediction, CONTEXT)
            for seed in seeds
        ]

    def deliver(self) -> None:
        self.worker.run(burst=True)

    def count(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "winnow_datapoints_total", {"project": "cars", "strategy": "all", "outcome": outcome}
        )
        return value or 0.0

    def close(self) -> None:
        self.outbox.close()


def setup(platform: Platform, cfg: dict[str, Any]) -> None:
    new_project(platform, "cars")
    set_config(platform, platform.workspace(API_KEY), "cars", cfg)


def batch_images(platform: Platform) -> int:
    workspace = platform.workspace(API_KEY)
    name = batch_name("al", "daily", NOW)
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=workspace, name="cars")
        rows = store.list_batches(session=session, project=project)
    return sum(row.images for row in rows if row.batch.name == name)


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    """Where one node keeps its outbox file across restarts (the folder exists)."""
    path = tmp_path / "node" / "outbox.db"
    path.parent.mkdir()
    return path


def test_cap_is_exact_across_a_restart_with_fresh_memory_limits(
    sqlite_platform: Platform, outbox_path: Path
) -> None:
    setup(sqlite_platform, config(5))
    first = Node(sqlite_platform, outbox_path)
    assert first.send(range(3)) == [Outcome.QUEUED] * 3
    first.deliver()
    assert batch_images(sqlite_platform) == 3
    first.close()

    restarted = Node(sqlite_platform, outbox_path)  # same outbox file, limits start at 0
    outcomes = restarted.send(range(100, 110))
    assert outcomes == [Outcome.QUEUED] * 2 + [Outcome.BATCH_FULL] * 8
    restarted.deliver()
    assert batch_images(sqlite_platform) == 5
    counts = restarted.outbox.stats().counts
    assert counts[EntryStatus.BATCH_FULL] == 0 and counts[EntryStatus.FAILED] == 0
    assert counts[EntryStatus.PENDING] == 0 and counts[EntryStatus.DELIVERING] == 0
    assert restarted.count("failed") == 0 and restarted.count("delivered") == 2
    restarted.close()


def test_cap_is_exact_across_two_nodes_with_memory_limits(
    sqlite_platform: Platform, tmp_path: Path
) -> None:
    setup(sqlite_platform, config(4))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Node(sqlite_platform, tmp_path / "a" / "outbox.db")
    b = Node(sqlite_platform, tmp_path / "b" / "outbox.db")
    assert a.send(range(3)) == [Outcome.QUEUED] * 3
    a.deliver()
    assert b.send(range(10, 14)) == [Outcome.QUEUED] + [Outcome.BATCH_FULL] * 3
    b.deliver()
    assert a.send(range(20, 22)) == [Outcome.BATCH_FULL] * 2
    assert batch_images(sqlite_platform) == 4
    for node in (a, b):
        assert node.outbox.stats().counts[EntryStatus.BATCH_FULL] == 0
        node.close()


def test_a_refusal_for_the_cap_is_batch_full_frees_bytes_and_returns_the_credit(
    sqlite_platform: Platform, outbox_path: Path
) -> None:
    # A node that cannot learn (no batch counter): after a restart it overshoots, and the
    # platform's refusals must not pile up as failed entries holding bytes.
    setup(sqlite_platform, config(3, limits=[{"type": "minutely", "value": 5}]))
    first = Node(sqlite_platform, outbox_path, learns=False)
    assert first.send(range(2)) == [Outcome.QUEUED] * 2
    first.deliver()
    first.close()
    blind = Node(sqlite_platform, outbox_path, learns=False)
    assert blind.send(range(10, 13)) == [Outcome.QUEUED] * 3
    blind.deliver()
    assert batch_images(sqlite_platform) == 3
    stats = blind.outbox.stats()
    assert stats.counts[EntryStatus.BATCH_FULL] == 2
    assert stats.counts[EntryStatus.FAILED] == 0
    assert stats.bytes == 0
    assert blind.count("batch_full") == 2 and blind.count("failed") == 0
    # the batch is now known full; the strategy credits came back (5 per minute, 1 used)
    assert blind.send([20]) == [Outcome.BATCH_FULL]
    blind.close()


@pytest.mark.parametrize(
    ("cap", "limits", "then"),
    [
        (10, [{"type": "minutely", "value": 2}], Outcome.LIMITED),  # the strategy credit
        (2, [], Outcome.BATCH_FULL),  # the batch place
    ],
    ids=["strategy credit", "batch place"],
)
def test_an_exact_duplicate_gives_back_its_credit_and_batch_place(
    sqlite_platform: Platform,
    tmp_path: Path,
    cap: int,
    limits: list[dict[str, Any]],
    then: Outcome,
) -> None:
    setup(sqlite_platform, config(cap, limits=limits))
    node = Node(sqlite_platform, tmp_path / "outbox.db", learns=False)
    assert node.send([1]) == [Outcome.QUEUED]
    node.deliver()
    assert node.send([1]) == [Outcome.QUEUED]  # same bytes: a duplicate on the platform
    node.deliver()
    assert node.count("duplicate") == 1 and node.count("delivered") == 1
    # what the duplicate took is back: one more fits (without the give-back: none), then no more
    assert node.send([2, 3]) == [Outcome.QUEUED, then]
    node.deliver()
    assert batch_images(sqlite_platform) == 2
    node.close()


def test_entries_still_queued_at_a_restart_keep_their_places(
    sqlite_platform: Platform, outbox_path: Path
) -> None:
    setup(sqlite_platform, config(5))
    first = Node(sqlite_platform, outbox_path)
    assert first.send(range(2)) == [Outcome.QUEUED] * 2
    first.deliver()
    assert first.send(range(10, 12)) == [Outcome.QUEUED] * 2  # queued, not delivered
    first.close()

    restarted = Node(sqlite_platform, outbox_path)  # 2 on the platform + 2 in its outbox
    assert restarted.outbox.pending_in_batch(API_KEY, "cars", batch_name("al", "daily", NOW)) == 2
    assert restarted.send(range(20, 25)) == [Outcome.QUEUED] + [Outcome.BATCH_FULL] * 4
    restarted.deliver()
    assert batch_images(sqlite_platform) == 5
    counts = restarted.outbox.stats().counts
    assert counts[EntryStatus.BATCH_FULL] == 0 and counts[EntryStatus.FAILED] == 0
    restarted.close()

"""The durable outbox: states, byte bound, idempotency, recovery, persistence."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.factories import FakeClock, make_datapoint
from winnow.activelearning.outbox import (
    DELIVERED_RETENTION_SECONDS,
    EntryStatus,
    Outbox,
    OutboxItem,
)
from winnow.errors import OutboxFullError


def open_outbox(
    tmp_path: Path, max_bytes: int = 10_000_000, clock: FakeClock | None = None
) -> Outbox:
    return Outbox(tmp_path / "outbox.db", max_bytes=max_bytes, clock=clock or FakeClock())


def test_put_then_claim_round_trips_the_datapoint(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = open_outbox(tmp_path, clock=clock)
    dp = make_datapoint()
    entry_id = outbox.put(dp)
    [entry] = outbox.claim(10, clock.now)
    assert entry.id == entry_id
    assert entry.status is EntryStatus.DELIVERING
    assert entry.attempts == 1
    assert entry.datapoint == dp
    assert entry.created_at == dp.created_at.timestamp()
    assert outbox.claim(10, clock.now) == []
    outbox.close()


def test_claim_respects_limit_order_and_due_time(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = open_outbox(tmp_path, clock=clock)
    ids = []
    for _ in range(5):
        ids.append(outbox.put(make_datapoint()))
        clock.now += 1
    assert [e.id for e in outbox.claim(2, clock.now)] == ids[:2]
    outbox.mark_retry(ids[0], "boom", next_attempt_at=clock.now + 100)
    # ids[0] is not due yet; the rest are, oldest first
    assert [e.id for e in outbox.claim(10, clock.now)] == ids[2:]
    assert outbox.next_due() == clock.now + 100
    assert outbox.claim(10, clock.now + 99.9) == []
    [again] = outbox.claim(10, clock.now + 100)
    assert again.id == ids[0]
    assert again.attempts == 2
    outbox.close()


def test_duplicate_idempotency_key_is_a_no_op(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    dp = make_datapoint("same-key")
    first = outbox.put(dp)
    assert outbox.put(replace(dp, project="other")) == first
    stats = outbox.stats()
    assert stats.counts[EntryStatus.PENDING] == 1
    entry = outbox.get(first)
    assert entry is not None
    assert entry.datapoint.project == "proj"
    outbox.close()


def test_full_outbox_refuses_and_frees_room_on_delivery(tmp_path: Path) -> None:
    clock = FakeClock()
    first = make_datapoint(jpeg_size=4000)
    outbox = open_outbox(tmp_path, max_bytes=10_000, clock=clock)
    id1 = outbox.put(first)
    size = outbox.stats().bytes
    assert 4000 < size < 6000
    outbox.put(make_datapoint(jpeg_size=4000))
    with pytest.raises(OutboxFullError, match="outbox is full"):
        outbox.put(make_datapoint(jpeg_size=4000))
    assert sum(outbox.stats().counts.values()) == 2
    # a failed entry still holds its bytes...
    [claimed, _] = outbox.claim(2, clock.now)
    outbox.mark_failed(claimed.id, "rejected")
    with pytest.raises(OutboxFullError):
        outbox.put(make_datapoint(jpeg_size=4000))
    # ...a delivered one does not, and its JPEG is dropped
    outbox.mark_delivered(id1, "img-1")
    outbox.put(make_datapoint(jpeg_size=4000))
    delivered = outbox.get(id1)
    assert delivered is not None
    assert delivered.status is EntryStatus.DELIVERED
    assert delivered.datapoint.image_jpeg == b""
    outbox.close()


def test_failed_entries_can_be_retried_or_purged(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = open_outbox(tmp_path, clock=clock)
    for _ in range(3):
        outbox.put(make_datapoint())
    for entry in outbox.claim(3, clock.now):
        outbox.mark_failed(entry.id, "nope")
    assert outbox.stats().counts[EntryStatus.FAILED] == 3
    held = outbox.stats().bytes
    assert outbox.retry_failed() == 3
    assert len(outbox.claim(10, clock.now)) == 3
    assert outbox.stats().bytes == held
    for entry_id in (1, 2, 3):
        outbox.mark_failed(entry_id, "nope")
    assert outbox.purge_failed() == 3
    assert outbox.stats().bytes == 0
    outbox.close()


def test_recover_on_open_returns_delivering_entries_to_pending(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = open_outbox(tmp_path, clock=clock)
    ids = [outbox.put(make_datapoint()) for _ in range(3)]
    claimed = outbox.claim(2, clock.now)
    assert [e.id for e in claimed] == ids[:2]
    outbox.close()  # a crash: nothing marked
    reopened = open_outbox(tmp_path, clock=clock)
    stats = reopened.stats()
    assert stats.counts[EntryStatus.DELIVERING] == 0
    assert stats.counts[EntryStatus.PENDING] == 3
    again = reopened.claim(10, clock.now)
    assert sorted(e.id for e in again) == ids
    assert {e.id: e.attempts for e in again} == {ids[0]: 2, ids[1]: 2, ids[2]: 1}
    reopened.close()


def test_stats_counts_bytes_and_oldest_age(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC).timestamp())
    outbox = open_outbox(tmp_path, clock=clock)
    empty = outbox.stats()
    assert empty.oldest_pending_age is None
    assert empty.bytes == 0
    ids = [outbox.put(make_datapoint()) for _ in range(4)]
    outbox.claim(1, clock.now)
    outbox.mark_delivered(ids[0], "img")
    [failing] = outbox.claim(1, clock.now)
    outbox.mark_failed(failing.id, "bad")
    outbox.claim(1, clock.now)
    stats = outbox.stats()
    assert stats.counts == {
        EntryStatus.PENDING: 1,
        EntryStatus.DELIVERING: 1,
        EntryStatus.DELIVERED: 1,
        EntryStatus.FAILED: 1,
        EntryStatus.BATCH_FULL: 0,
    }
    # make_datapoint() was created at 10:00:00.123456; the clock says 10:00:30
    assert stats.oldest_pending_age == pytest.approx(29.876544)
    per_entry = outbox.get(ids[3])
    assert per_entry is not None
    assert stats.bytes == 3 * per_entry.size
    outbox.close()


def test_delivered_rows_are_pruned_after_a_day(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = open_outbox(tmp_path, clock=clock)
    old, recent = outbox.put(make_datapoint()), outbox.put(make_datapoint())
    outbox.claim(2, clock.now)
    outbox.mark_delivered(old, "a")
    clock.now += 3600
    outbox.mark_delivered(recent, "b")
    assert outbox.prune(clock.now + 23 * 3600) == 0
    assert outbox.prune(clock.now + 23.5 * 3600) == 1
    assert outbox.get(old) is None
    assert outbox.get(recent) is not None
    outbox.close()


def test_accepted_datapoints_survive_reopening(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    ids = [outbox.put(make_datapoint()) for _ in range(20)]
    outbox.close()
    reopened = open_outbox(tmp_path)
    assert sorted(e.id for e in reopened.claim(100, 2e9)) == ids
    reopened.close()
    with sqlite3.connect(tmp_path / "outbox.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "outbox.db").stat().st_mode & 0o077 == 0


def test_concurrent_puts_and_claims_lose_and_double_nothing(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    put_keys: list[str] = []
    claimed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def producer() -> None:
        for _ in range(100):
            dp = make_datapoint(jpeg_size=300)
            outbox.put(dp)
            with lock:
                put_keys.append(dp.idempotency_key)

    def consumer() -> None:
        while not stop.is_set():
            for entry in outbox.claim(7, 2e9):
                outbox.mark_delivered(entry.id, "x")
                with lock:
                    claimed.append(entry.idempotency_key)

    producers = [threading.Thread(target=producer) for _ in range(3)]
    consumers = [threading.Thread(target=consumer) for _ in range(2)]
    for thread in producers + consumers:
        thread.start()
    for thread in producers:
        thread.join()
    deadline = time.monotonic() + 30
    while len(claimed) < len(put_keys) and time.monotonic() < deadline:
        stop.wait(0.01)
    stop.set()
    for thread in consumers:
        thread.join()
    assert sorted(claimed) == sorted(put_keys)
    assert len(set(claimed)) == 300
    assert outbox.stats().bytes == 0
    outbox.close()


def test_bad_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Outbox(tmp_path / "o.db", max_bytes=10, synchronous="OFF; DROP TABLE x")


def test_batch_full_entry_frees_its_bytes_at_once_and_is_pruned_like_delivered(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    outbox = open_outbox(tmp_path, clock=clock)
    kept = outbox.put(make_datapoint())
    refused = outbox.put(make_datapoint())
    held = outbox.stats().bytes
    outbox.claim(2, clock.now)
    outbox.mark_batch_full(refused, "batch 'al' is full")
    stats = outbox.stats()
    assert stats.counts[EntryStatus.BATCH_FULL] == 1
    assert 0 < stats.bytes < held  # only the other entry's bytes are still held
    entry = outbox.get(refused)
    assert entry is not None and entry.last_error == "batch 'al' is full"
    assert entry.datapoint.image_jpeg == b""
    clock.now += DELIVERED_RETENTION_SECONDS + 1
    assert outbox.prune(clock.now) == 1
    assert outbox.get(refused) is None and outbox.get(kept) is not None


def test_pending_in_batch_counts_only_pending_entries_of_that_key_project_and_batch(
    tmp_path: Path,
) -> None:
    outbox = open_outbox(tmp_path)
    for _ in range(3):
        outbox.put(make_datapoint())
    outbox.put(make_datapoint(project="other"))
    outbox.put(replace(make_datapoint(), batch_name="al_2026_11_29"))
    outbox.put(replace(make_datapoint(), api_key="another-key"))
    assert outbox.pending_in_batch("key-123", "proj", "al_2026_11_28") == 3
    [claimed] = outbox.claim(1, 4e9)
    assert outbox.pending_in_batch("key-123", "proj", "al_2026_11_28") == 2
    outbox.mark_delivered(claimed.id, "img")
    assert outbox.pending_in_batch("key-123", "proj", "al_2026_11_28") == 2
    assert outbox.pending_in_batch("key-123", "proj", "nope") == 0


def test_metadata_with_nan_is_never_stored(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="not JSON compliant"):
            outbox.put(replace(make_datapoint(), extra={"score": value}))
    assert outbox.stats().bytes == 0
    assert outbox.claim(10, 4e9) == []
    outbox.close()


def test_put_many_is_one_transaction_and_takes_the_bound_item_by_item(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_bytes=12_000)
    statements: list[str] = []
    outbox._db.set_trace_callback(statements.append)
    items = [OutboxItem(make_datapoint(jpeg_size=size)) for size in (4000, 9000, 4000, 100)]
    results = outbox.put_many([*items, items[0]])
    outbox._db.set_trace_callback(None)
    assert statements.count("COMMIT") == 1
    assert isinstance(results[1], OutboxFullError)  # 4000 + 9000 do not fit; the next ones do
    assert [isinstance(r, int) for r in results] == [True, False, True, True, True]
    assert results[4] == results[0]  # the same key again in the batch: stored once
    assert outbox.stats().counts[EntryStatus.PENDING] == 3
    outbox.close()


def test_concurrent_puts_share_one_commit(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    statements: list[str] = []
    outbox._db.set_trace_callback(statements.append)
    ids: list[int] = []
    # Hold the connection: the first put takes only its own entry and waits; the
    # seven that arrive meanwhile queue up and go together in the next commit.
    with outbox._lock:
        threads = [
            threading.Thread(target=lambda: ids.append(outbox.put(make_datapoint())))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(outbox._waiting) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(outbox._waiting) == 7
    for thread in threads:
        thread.join()
    outbox._db.set_trace_callback(None)
    assert len(set(ids)) == 8
    assert statements.count("COMMIT") == 2
    assert outbox.stats().counts[EntryStatus.PENDING] == 8
    outbox.close()


_PUTTER = """
import sys, threading, uuid
from pathlib import Path
from datetime import UTC, datetime
from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.outbox import Outbox

outbox = Outbox(Path(sys.argv[1]), max_bytes=10**10)
lock = threading.Lock()

def put_forever():
    while True:
        key = uuid.uuid4().hex
        outbox.put(Datapoint(
            idempotency_key=key, api_key="k", project="p", batch_name="b",
            image_jpeg=b"\\xff\\xd8\\xff" + bytes(20000), width=1, height=1,
            created_at=datetime.now(UTC),
        ))
        with lock:  # acknowledged: durable from here on
            sys.stdout.write(key + "\\n")
            sys.stdout.flush()

for _ in range(6):
    threading.Thread(target=put_forever, daemon=True).start()
threading.Event().wait()
"""


def test_every_acknowledged_put_survives_a_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    process = subprocess.Popen(
        [sys.executable, "-c", _PUTTER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < 300:
            line = process.stdout.readline()
            assert line, "the putting process ended early"
            acknowledged.append(line.strip())
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    acknowledged.extend(line.strip() for line in process.stdout.read().splitlines())
    process.stdout.close()
    outbox = Outbox(path, max_bytes=10**10)
    stored = {entry.idempotency_key for entry in outbox.claim(100_000, 4e9)}
    outbox.close()
    assert set(acknowledged) <= stored
    assert len(stored) >= len(acknowledged)


def test_put_many_gives_every_item_its_own_id_across_multi_row_inserts(tmp_path: Path) -> None:
    clock = FakeClock()
    sized = make_datapoint()
    one_size = len(sized.image_jpeg) + 2_000  # about one entry with its metadata
    outbox = open_outbox(tmp_path, max_bytes=one_size * 700, clock=clock)
    earlier = make_datapoint("earlier")
    stored_id = outbox.put(earlier)
    # More than one multi-row INSERT of items, a key stored before, a key twice in the call.
    items = [OutboxItem(make_datapoint(f"k{i:04d}")) for i in range(600)]
    items.insert(10, OutboxItem(earlier))
    items.insert(300, OutboxItem(make_datapoint("k0005")))
    ids = outbox.put_many(items)
    assert len(ids) == len(items)
    assert ids[10] == stored_id
    assert ids[300] == ids[5]
    new = [i for i in ids if isinstance(i, int) and i != stored_id]
    assert len(set(new)) == 600
    by_id = {entry.id: entry.datapoint.idempotency_key for entry in outbox.claim(10_000, clock.now)}
    for item, entry_id in zip(items, ids, strict=True):
        assert isinstance(entry_id, int)
        assert by_id[entry_id] == item.datapoint.idempotency_key  # each id is its own datapoint
    outbox.close()


def test_put_many_refuses_what_passes_the_bound_and_takes_what_fits_after(
    tmp_path: Path,
) -> None:
    small = make_datapoint("s0", jpeg_size=100)
    big = make_datapoint("b0", jpeg_size=50_000)
    room = 3 * (len(small.image_jpeg) + 2_000)
    outbox = open_outbox(tmp_path, max_bytes=room)
    items = [OutboxItem(replace(small, idempotency_key=f"s{i}")) for i in range(2)]
    items.insert(1, OutboxItem(big))
    results = outbox.put_many(items)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], OutboxFullError)
    assert outbox.stats().counts[EntryStatus.PENDING] == 2
    outbox.close()

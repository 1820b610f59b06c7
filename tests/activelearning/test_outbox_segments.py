"""The outbox's image bytes in segment files: written once, read back, freed, never lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.factories import FakeClock, make_datapoint
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.activelearning.outbox_segments import SUFFIX, SegmentWriter, collect, read_many


def _segments(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outbox.db.segments").glob(f"*{SUFFIX}"))


def test_image_bytes_live_in_a_segment_not_in_the_row_and_read_back_whole(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    dp = make_datapoint(jpeg_size=5000)
    entry_id = outbox.put(dp)
    with sqlite3.connect(tmp_path / "outbox.db") as raw:
        (stored,) = raw.execute("SELECT length(jpeg) FROM entries WHERE id = ?", (entry_id,))
    assert stored == (0,)
    assert len(_segments(tmp_path)) == 1
    [claimed] = outbox.claim(10, now=10**12)
    assert claimed.datapoint.image_jpeg == dp.image_jpeg
    outbox.close()


def test_a_delivered_segment_is_deleted_once_its_writer_let_it_go(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    outbox.put(make_datapoint(jpeg_size=3000))
    [entry] = outbox.claim(10, now=10**12)
    outbox.mark_delivered(entry.id, "platform-1")
    # The writer still holds its current segment: kept.
    assert outbox.collect_segments() == 0
    assert len(_segments(tmp_path)) == 1
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    assert _segments(tmp_path) == []  # collected on open: nothing points into it
    reopened.close()


def test_a_segment_an_undelivered_entry_points_into_is_kept(tmp_path: Path) -> None:
    first = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    dp = make_datapoint(jpeg_size=3000)
    first.put(dp)
    first.close()  # its writer let the segment go; the entry is still pending
    second = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    assert len(_segments(tmp_path)) == 1
    [entry] = second.claim(10, now=10**12)
    assert entry.datapoint.image_jpeg == dp.image_jpeg
    second.close()


def test_an_entry_whose_segment_is_gone_fails_with_a_reason_instead_of_delivering_nothing(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    entry_id = outbox.put(make_datapoint(jpeg_size=3000))
    for segment in _segments(tmp_path):
        segment.unlink()
    assert outbox.claim(10, now=10**12) == []
    lost = outbox.get(entry_id)
    assert lost is not None and lost.status is EntryStatus.FAILED
    assert lost.last_error is not None and "image bytes lost" in lost.last_error
    outbox.close()


def test_rows_written_before_segments_still_deliver_their_bytes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10_000_000, clock=FakeClock())
    entry_id = outbox.put(make_datapoint(jpeg_size=3000))
    with sqlite3.connect(tmp_path / "outbox.db") as raw:  # as an older outbox held it
        raw.execute(
            "UPDATE entries SET jpeg = ?, segment = NULL WHERE id = ?", (b"old-bytes", entry_id)
        )
    [entry] = outbox.claim(10, now=10**12)
    assert entry.datapoint.image_jpeg == b"old-bytes"
    outbox.close()


def test_writer_appends_in_order_and_collect_spares_its_current_segment(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path)
    name, offsets = writer.append([b"abc", b"", b"defgh"])
    again, more = writer.append([b"xy"])
    assert again == name and offsets == [0, 3, 3] and more == [8]
    wanted = [(name, 0, 3), (name, 3, 5), (name, 8, 2), ("missing.seg", 0, 1), (name, 9, 5)]
    assert read_many(tmp_path, wanted) == [b"abc", b"defgh", b"xy", None, None]
    assert collect(tmp_path, lambda _name: False) == 0  # the writer holds it
    writer.close()
    assert collect(tmp_path, lambda _name: True) == 0  # referenced
    assert collect(tmp_path, lambda _name: False) == 1

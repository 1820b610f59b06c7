"""The durable outbox: prepared datapoints wait here, on disk, until delivered.

One SQLite file in WAL mode. Every write is a ``BEGIN IMMEDIATE`` transaction
on one connection guarded by a lock, committed with ``synchronous=FULL``, so
a datapoint that :meth:`Outbox.put` accepted survives a crash, a kill -9 and a
power cut. Several processes may open the same file (the server and
``winnow outbox drain``); SQLite serializes their writes.

Life of an entry (``EntryStatus``)::

    put -> pending --claim--> delivering --mark_delivered--> delivered (JPEG dropped)
              ^                  |  |  +--mark_batch_full--> batch_full (JPEG dropped)
              +---mark_retry-----+  +--mark_failed--> failed (kept, counts against the bound)
              +---recover (on open: a crash left it delivering)

Delivery is at-least-once: an entry the platform registered just before a
crash is delivered again after :meth:`Outbox.recover`; the platform stores it
once because registration is idempotent by ``idempotency_key``.

The byte bound counts pending, delivering and failed entries (JPEG plus
metadata); a trigger keeps the running total so ``put`` never scans.
Delivered rows keep their metadata for a day (status, audit), then are pruned.

The image bytes of a put are not in the database: they are appended to the
putting process's segment file (``<outbox>.segments/``, see
:mod:`winnow.activelearning.outbox_segments`) and synced before the rows that
point at them commit, so each image is written to the disk once instead of
three times (log, checkpoint, emptied after delivery). A segment is deleted
once no row points into it and no process writes it (:meth:`Outbox.prune`).
Rows written before segments (their bytes in the ``jpeg`` column) and prepared
captures kept for a retry still hold their bytes in the row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from winnow.activelearning.capture import (
    PrepareSpec,
    credit_from_json,
    credit_to_json,
    spec_from_json,
    spec_to_json,
)
from winnow.activelearning.datapoint import (
    METADATA_FIELDS,
    Datapoint,
    metadata_from_json,
    metadata_to_json,
)
from winnow.activelearning.limits.base import Credit
from winnow.activelearning.outbox_segments import SegmentWriter, collect, folder_of, read_many
from winnow.errors import OutboxFullError

DELIVERED_RETENTION_SECONDS = 24 * 3600.0
_PAGE_SIZE = 65536
_WAL_PAGES = 1024
_KEYS_A_QUERY = 900  # idempotency keys looked up by one SELECT (far below SQLite's cap)
_INSERT_ROWS = 256  # rows of one multi-row INSERT (10 parameters each, far below SQLite's cap)
_PRUNE_EVERY_SECONDS = 60.0


class EntryStatus(StrEnum):
    """Where an outbox entry is in its life."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    BATCH_FULL = "batch_full"  # refused by the platform for max_batch_images; bytes dropped


@dataclass(slots=True, frozen=True)
class Entry:
    """One outbox entry as :meth:`Outbox.claim` hands it out (times are UNIX seconds)."""

    id: int
    idempotency_key: str
    status: EntryStatus
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    size: int
    datapoint: Datapoint
    capture: PrepareSpec | None = None
    credit: Credit | None = None


@dataclass(slots=True, frozen=True)
class OutboxItem:
    """What :meth:`Outbox.put_many` stores: a datapoint, how to prepare it, its credit.

    ``capture`` None: ``datapoint`` is prepared (its JPEG is what the platform
    stores). Otherwise ``datapoint.image_jpeg`` holds the original bytes and
    ``datapoint.prediction`` the prediction as served; the collection process
    prepares it (``winnow.activelearning.capture.prepare_capture``).
    ``credit``, when given, lets the delivering process give the credit back.
    """

    datapoint: Datapoint
    capture: PrepareSpec | None = None
    credit: Credit | None = None


@dataclass(slots=True, frozen=True)
class OutboxStats:
    """Counts by status, bytes held against the bound, and the oldest undelivered age.

    ``oldest_pending_age`` is in seconds, over pending and delivering entries,
    None when there are none.
    """

    counts: dict[EntryStatus, int]
    bytes: int
    max_bytes: int
    oldest_pending_age: float | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    jpeg BLOB NOT NULL,
    platform_id TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS entries_due ON entries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS entries_delivered ON entries (status, delivered_at);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 1), held INTEGER NOT NULL);
INSERT OR IGNORE INTO totals (id, held) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS entries_held_insert AFTER INSERT ON entries BEGIN
    UPDATE totals SET held = held + (CASE WHEN NEW.status != 'delivered' THEN NEW.size ELSE 0 END);
END;
CREATE TRIGGER IF NOT EXISTS entries_held_update AFTER UPDATE OF status ON entries BEGIN
    UPDATE totals SET held = held
        - (CASE WHEN OLD.status != 'delivered' THEN OLD.size ELSE 0 END)
        + (CASE WHEN NEW.status != 'delivered' THEN NEW.size ELSE 0 END);
END;
CREATE TRIGGER IF NOT EXISTS entries_held_delete AFTER DELETE ON entries BEGIN
    UPDATE totals SET held = held - (CASE WHEN OLD.status != 'delivered' THEN OLD.size ELSE 0 END);
END;
"""

# Added to outboxes made before image bytes moved to segment files (NULL: bytes in ``jpeg``).
_SEGMENT_COLUMNS = {"segment": "TEXT", "seg_offset": "INTEGER", "seg_length": "INTEGER"}
_SEGMENT_INDEX = (
    "CREATE INDEX IF NOT EXISTS entries_segment ON entries (segment) WHERE segment IS NOT NULL"
)

_COLUMNS = (
    "id, idempotency_key, status, attempts, next_attempt_at, last_error, created_at, size, "
    "metadata, jpeg, segment, seg_offset, seg_length"
)


_ROW_VERSION = 1
_CAPTURE_ROW_VERSION = 2
# The address and image size travel beside the metadata; the metadata itself is
# the codec's object (winnow.activelearning.datapoint), the same the HTTP clients send.
# Version 2 rows are captures: a "capture" key (the PrepareSpec) says the bytes are the
# original, not yet prepared. An optional "credit" key holds the credit that paid.


def _metadata(item: OutboxItem) -> str:
    dp = item.datapoint
    row: dict[str, Any] = {
        "v": _ROW_VERSION if item.capture is None else _CAPTURE_ROW_VERSION,
        "api_key": dp.api_key,
        "project": dp.project,
        "width": dp.width,
        "height": dp.height,
        "metadata": metadata_to_json(dp),
    }
    if item.capture is not None:
        row["capture"] = spec_to_json(item.capture)
    if item.credit is not None:
        row["credit"] = credit_to_json(item.credit)
    return json.dumps(
        row,
        separators=(",", ":"),
        # NaN/Infinity are not JSON: the platform would refuse the entry for good.
        allow_nan=False,
    )


def _row_extras(metadata: str) -> tuple[PrepareSpec | None, Credit | None]:
    row: dict[str, Any] = json.loads(metadata)
    capture = row.get("capture")
    credit = row.get("credit")
    return (
        None if capture is None else spec_from_json(capture),
        None if credit is None else credit_from_json(credit),
    )


def _datapoint(key: str, metadata: str, jpeg: bytes) -> Datapoint:
    row: dict[str, Any] = json.loads(metadata)
    if "v" in row:
        meta = metadata_from_json(row["metadata"])
    else:  # written before the codec: one flat object, the batch under "batch_name"
        meta = metadata_from_json({**row, "batch": row["batch_name"]})
    values = {name: getattr(meta, name) for name in METADATA_FIELDS}
    values["idempotency_key"] = key
    return Datapoint(
        api_key=row["api_key"],
        project=row["project"],
        width=row["width"],
        height=row["height"],
        image_jpeg=jpeg,
        **values,
    )


def _entry(row: tuple[Any, ...], jpeg: bytes) -> Entry:
    """The entry of a ``_COLUMNS`` row whose image bytes are ``jpeg``."""
    (id_, key, status, attempts, next_at, error, created, size, metadata) = row[:9]
    capture, credit = _row_extras(metadata)
    return Entry(
        id=id_,
        idempotency_key=key,
        status=EntryStatus(status),
        attempts=attempts,
        next_attempt_at=next_at,
        last_error=error,
        created_at=created,
        size=size,
        datapoint=_datapoint(key, metadata, jpeg),
        capture=capture,
        credit=credit,
    )


class _Slot:
    """One put() waiting for the group commit: its row, then its id or its error."""

    __slots__ = ("result", "row")

    def __init__(self, row: tuple[OutboxItem, str]) -> None:
        self.row = row
        self.result: int | BaseException | None = None


class Outbox:
    """A durable, byte-bounded queue of datapoints in one SQLite file.

    Thread-safe: one connection, one lock. Opening runs :meth:`recover` unless
    ``recover`` is False (a serving process whose node delivers from another
    process must not make that process's in-flight entries due again).
    ``clock`` (UNIX seconds) is used where a method takes no ``now``.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
        recover: bool = True,
    ) -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        # Group commit of put(): entries waiting for the next transaction, and whether one runs.
        self._group = threading.Condition()
        self._waiting: list[_Slot] = []
        self._committing = False
        self._last_prune = 0.0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        if fresh:
            # It holds API keys: readable by its owner only.
            os.chmod(self.path, 0o600)
        if fresh:
            # Rows hold whole images: 64 KiB pages write one in a few pages instead of
            # dozens (about five times the puts per second of the 4 KiB default). It
            # must be set before the first table; an outbox made earlier keeps its size.
            self._db.execute(f"PRAGMA page_size={_PAGE_SIZE}")
        self._db.execute("PRAGMA journal_mode=WAL")
        # Checkpoint after about 64 MiB of log, and cut the log back to that size.
        self._db.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES}")
        self._db.execute(f"PRAGMA journal_size_limit={_PAGE_SIZE * _WAL_PAGES}")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}
            for column, kind in _SEGMENT_COLUMNS.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE entries ADD COLUMN {column} {kind}")
            self._db.execute(_SEGMENT_INDEX)
        self.segments = folder_of(self.path)
        self._writer = SegmentWriter(self.segments, sync=synchronous.upper() != "NORMAL")
        if recover:
            self.recover()
            self.collect_segments()

    # ------------------------------------------------------------------ writes

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return cursor

    def put(
        self, dp: Datapoint, *, capture: PrepareSpec | None = None, credit: Credit | None = None
    ) -> int:
        """Store ``dp`` durably as pending; return its entry id once it is on disk.

        A datapoint whose idempotency key is already stored is not stored
        again: the existing id is returned. Raises ``OutboxFullError`` when
        the bytes held (pending, delivering, failed) plus this one would
        exceed ``max_bytes``; ``ValueError`` (nothing stored) when the metadata
        holds NaN or infinity, which no platform would accept.

        Group commit: puts from several threads that arrive while a commit is
        being synced are written together in the next transaction, one sync
        for all of them; each put still returns only after its own entry is
        durable (``synchronous=FULL``: it survives a power cut).
        """
        result = self._group_put(OutboxItem(dp, capture, credit))
        if isinstance(result, BaseException):
            raise result
        return result

    def put_many(self, items: Sequence[OutboxItem]) -> list[int | OutboxFullError]:
        """Store every item in ONE transaction (one sync); per item its id or the refusal.

        The items are taken in order against the byte bound: an item that
        does not fit gets its ``OutboxFullError`` and the ones after it may
        still fit. When the call returns, every id it returns is durable.
        ``ValueError`` (nothing stored) for metadata holding NaN or infinity.
        """
        rows = [(item, _metadata(item)) for item in items]
        with self._lock:
            return self._insert(rows)

    def _group_put(self, item: OutboxItem) -> int | BaseException:
        row = (item, _metadata(item))  # ValueError here: nothing queued
        slot = _Slot(row)
        with self._group:
            self._waiting.append(slot)
            while slot.result is None:
                if self._committing:
                    self._group.wait()
                    continue
                # This thread commits everything waiting now, its own entry included.
                self._committing = True
                batch, self._waiting = self._waiting, []
                self._group.release()
                try:
                    with self._lock:
                        results: list[int | BaseException] = list(
                            self._insert([s.row for s in batch])
                        )
                except BaseException as exc:
                    results = [exc] * len(batch)
                finally:
                    self._group.acquire()
                    self._committing = False
                for waiting, result in zip(batch, results, strict=True):
                    waiting.result = result
                self._group.notify_all()
        return slot.result

    def _insert(self, rows: Sequence[tuple[OutboxItem, str]]) -> list[int | OutboxFullError]:
        """Insert ``rows`` in one BEGIN IMMEDIATE ... COMMIT; the caller holds ``_lock``.

        First, outside the write transaction, the image bytes of the rows that look
        new (key not stored, nor earlier in ``rows``) and fit the bound are appended to
        this process's segment and synced; then one transaction checks again and
        inserts the rows pointing at them. A handful of SQLite calls for the whole
        burst, not two per row: each call gives the GIL up and waits to get it back,
        which costs up to the interpreter's switch interval when the serving thread is
        busy (a per-row loop ran some 15 times slower beside a busy thread). Keys
        already stored (or earlier in ``rows``) get the stored entry's id; new rows go
        in multi-row INSERTs, whose rows take consecutive ids (AUTOINCREMENT, under
        the write lock). A row whose bytes were not written (full at the first look)
        is refused even if room was freed since.
        """
        now = float(self._clock())
        keys = [item.datapoint.idempotency_key for item, _metadata in rows]
        placed, refused = self._place(rows, keys)

        out: list[int | OutboxFullError | None] = [None] * len(rows)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            (held,) = self._db.execute("SELECT held FROM totals WHERE id = 1").fetchone()
            stored = self._ids_of(keys)
            first: dict[str, int] = {}  # key -> index in rows of its new row
            new: list[tuple[int, tuple[Any, ...]]] = []
            for index, (item, metadata) in enumerate(rows):
                dp = item.datapoint
                key = keys[index]
                if key in stored:
                    out[index] = stored[key]
                    continue
                if key in first:
                    continue  # the id of its first row, once inserted
                size = len(dp.image_jpeg) + len(metadata)
                where = placed.get(index)
                if where is None or held + size > self.max_bytes:
                    out[index] = refused.get(index) or _full(held, self.max_bytes, size)
                    continue
                held += size
                first[key] = index
                values = (key, EntryStatus.PENDING.value, now, dp.created_at.timestamp())
                new.append((index, (*values, size, metadata, b"", *where)))
            for start in range(0, len(new), _INSERT_ROWS):
                chunk = new[start : start + _INSERT_ROWS]
                cursor = self._db.execute(
                    "INSERT INTO entries (idempotency_key, status, attempts, next_attempt_at, "
                    "created_at, size, metadata, jpeg, segment, seg_offset, seg_length) VALUES "
                    + ",".join(["(?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                    [value for _index, row in chunk for value in row],
                )
                last = cursor.lastrowid
                assert last is not None
                for offset, (index, _row) in enumerate(chunk):
                    out[index] = last - len(chunk) + 1 + offset
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        results: list[int | OutboxFullError] = []
        for index, result in enumerate(out):
            if result is None:  # a key repeated within rows: its first row's answer
                result = out[first[keys[index]]]
            assert result is not None
            results.append(result)
        return results

    def _place(
        self, rows: Sequence[tuple[OutboxItem, str]], keys: Sequence[str]
    ) -> tuple[dict[int, tuple[str, int, int]], dict[int, OutboxFullError]]:
        """Append the image bytes of the rows that look new and fit the bound to this
        process's segment (synced); (segment, offset, length) by row index, and the
        refusals of rows that did not fit. A read, no write lock: :meth:`_insert` checks
        again in its transaction."""
        (held,) = self._db.execute("SELECT held FROM totals WHERE id = 1").fetchone()
        stored = self._ids_of(keys)
        placed: dict[int, tuple[str, int, int]] = {}  # index -> (segment, offset, length)
        refused: dict[int, OutboxFullError] = {}
        writing: list[int] = []
        seen: set[str] = set()
        for index, (item, metadata) in enumerate(rows):
            key = keys[index]
            if key in stored or key in seen:
                continue
            seen.add(key)
            size = len(item.datapoint.image_jpeg) + len(metadata)
            if held + size > self.max_bytes:
                refused[index] = _full(held, self.max_bytes, size)
                continue
            held += size
            writing.append(index)
        if writing:
            blobs = [rows[i][0].datapoint.image_jpeg for i in writing]
            segment, offsets = self._writer.append(blobs)
            for index, offset, blob in zip(writing, offsets, blobs, strict=True):
                placed[index] = (segment, offset, len(blob))
        return placed, refused

    def _ids_of(self, keys: Sequence[str]) -> dict[str, int]:
        """The stored entry id of each of ``keys`` that is stored (few calls for many keys)."""
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _KEYS_A_QUERY):
            chunk = unique[start : start + _KEYS_A_QUERY]
            query = (
                "SELECT idempotency_key, id FROM entries WHERE idempotency_key IN ("
                + ",".join("?" * len(chunk))
                + ")"
            )
            found.update((str(key), int(id_)) for key, id_ in self._db.execute(query, chunk))
        return found

    def claim(self, limit: int, now: float) -> list[Entry]:
        """Move up to ``limit`` pending entries due at ``now`` to delivering and return them.

        Oldest due first. Each claim counts one attempt. When nothing is due it takes
        no write lock (a read), so an idle delivery loop polling never makes the
        serving processes' puts wait.
        """
        with self._lock:
            due = self._db.execute(
                "SELECT 1 FROM entries WHERE status = ? AND next_attempt_at <= ? LIMIT 1",
                (EntryStatus.PENDING.value, now),
            ).fetchone()
            if due is None:
                return []
            # The write transaction only picks and marks the entries (a few statements,
            # no image bytes): the serving processes' puts wait on it as briefly as can be.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    int(row[0])
                    for row in self._db.execute(
                        "SELECT id FROM entries WHERE status = ? AND next_attempt_at <= ? "
                        "ORDER BY next_attempt_at, id LIMIT ?",
                        (EntryStatus.PENDING.value, now, limit),
                    )
                ]
                marks = ",".join("?" * len(ids))
                if ids:
                    self._db.execute(
                        "UPDATE entries SET status = ?, attempts = attempts + 1 "
                        f"WHERE id IN ({marks})",
                        [EntryStatus.DELIVERING.value, *ids],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if not ids:
                return []
            # Read after the commit: delivering entries are this caller's, their bytes fixed.
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE id IN ({marks}) "
                "ORDER BY next_attempt_at, id",
                ids,
            ).fetchall()
        entries, lost = self._with_bytes(rows)
        if lost:
            self.settle(failed=lost)
        # As claimed (a recover() of another process since may have made them due again).
        return [replace(entry, status=EntryStatus.DELIVERING) for entry in entries]

    def _with_bytes(
        self, rows: Sequence[tuple[Any, ...]]
    ) -> tuple[list[Entry], list[tuple[int, str]]]:
        """The entries of ``_COLUMNS`` rows with their image bytes (read from their segments,
        without the lock), and (id, error) of those whose bytes are gone."""
        in_segments = [row for row in rows if row[10] is not None]
        found = read_many(self.segments, [(row[10], row[11], row[12]) for row in in_segments])
        data = {row[0]: blob for row, blob in zip(in_segments, found, strict=True)}
        entries: list[Entry] = []
        lost: list[tuple[int, str]] = []
        for row in rows:
            if row[10] is None:
                entries.append(_entry(row, bytes(row[9])))
                continue
            blob = data[row[0]]
            if blob is None:
                lost.append((row[0], f"image bytes lost: segment {row[10]} is missing or short"))
                continue
            entries.append(_entry(row, blob))
        return entries, lost

    def mark_delivered(self, entry_id: int, platform_id: str) -> None:
        """Record that the platform stored the entry as ``platform_id``; drop its JPEG bytes."""
        self.settle(delivered=[(entry_id, platform_id)])

    def mark_retry(self, entry_id: int, error: str, next_attempt_at: float) -> None:
        """Put the entry back to pending, due again at ``next_attempt_at`` (UNIX seconds)."""
        self.settle(retry=[(entry_id, error, next_attempt_at)])

    def mark_failed(self, entry_id: int, error: str) -> None:
        """Give up on the entry: the platform refused it for good. It keeps its bytes."""
        self.settle(failed=[(entry_id, error)])

    def mark_batch_full(self, entry_id: int, error: str) -> None:
        """The platform refused the entry because its batch is full: drop its bytes at once.

        The row (metadata, the error) stays for the delivered retention, then is pruned.
        """
        self.settle(batch_full=[(entry_id, error)])

    def settle(
        self,
        *,
        delivered: Sequence[tuple[int, str]] = (),
        retry: Sequence[tuple[int, str, float]] = (),
        failed: Sequence[tuple[int, str]] = (),
        batch_full: Sequence[tuple[int, str]] = (),
        prepared: Sequence[tuple[int, OutboxItem]] = (),
    ) -> None:
        """Record the outcomes of delivered entries, all in ONE transaction (one sync).

        ``delivered`` (id, platform id): JPEG dropped; ``retry`` (id, error, next
        attempt at): pending again; ``failed`` (id, error): kept with its bytes;
        ``batch_full`` (id, error): bytes freed at once. What the single
        ``mark_*`` methods do, for a whole batch. ``prepared`` (id, item): a
        capture that was prepared and is being retried keeps the prepared
        datapoint instead (so a retry does not prepare it again); its size
        against the bound changes to the prepared one's.
        """
        if not (delivered or retry or failed or batch_full):
            return
        rewrites = {}
        for entry_id, item in prepared:
            metadata = _metadata(item)
            size = len(item.datapoint.image_jpeg) + len(metadata)
            rewrites[entry_id] = (metadata, item.datapoint.image_jpeg, size)
        now = float(self._clock())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE entries SET status = ?, platform_id = ?, delivered_at = ?, "
                    "jpeg = X'', segment = NULL, last_error = NULL WHERE id = ?",
                    [(EntryStatus.DELIVERED.value, pid, now, i) for i, pid in delivered],
                )
                self._db.executemany(
                    "UPDATE entries SET status = ?, last_error = ?, next_attempt_at = ? "
                    "WHERE id = ?",
                    [
                        (EntryStatus.PENDING.value, err, at, i)
                        for i, err, at in retry
                        if i not in rewrites
                    ],
                )
                # In the same UPDATE as the status, so the held-bytes trigger sees the new size.
                self._db.executemany(
                    "UPDATE entries SET status = ?, last_error = ?, next_attempt_at = ?, "
                    "metadata = ?, jpeg = ?, size = ?, segment = NULL WHERE id = ?",
                    [
                        (EntryStatus.PENDING.value, err, at, *rewrites[i], i)
                        for i, err, at in retry
                        if i in rewrites
                    ],
                )
                self._db.executemany(
                    "UPDATE entries SET status = ?, last_error = ? WHERE id = ?",
                    [(EntryStatus.FAILED.value, err, i) for i, err in failed],
                )
                # size = 0 in the same UPDATE: the held-bytes trigger then frees all of it.
                self._db.executemany(
                    "UPDATE entries SET status = ?, last_error = ?, delivered_at = ?, "
                    "jpeg = X'', segment = NULL, size = 0 WHERE id = ?",
                    [(EntryStatus.BATCH_FULL.value, err, now, i) for i, err in batch_full],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if delivered and now - self._last_prune >= _PRUNE_EVERY_SECONDS:
            self._last_prune = now
            self.prune(now)

    def recover(self) -> int:
        """Move entries left delivering (by a crash) back to pending, due now; return how many.

        Runs on open. A process that opens an outbox another process is
        delivering from makes those in-flight entries due again: they may be
        delivered twice, which idempotent registration turns into once.
        """
        cursor = self._write(
            "UPDATE entries SET status = ?, next_attempt_at = MIN(next_attempt_at, ?) "
            "WHERE status = ?",
            (EntryStatus.PENDING.value, float(self._clock()), EntryStatus.DELIVERING.value),
        )
        return cursor.rowcount

    def retry_failed(self) -> int:
        """Make every failed entry pending again, due now; return how many."""
        cursor = self._write(
            "UPDATE entries SET status = ?, next_attempt_at = ? WHERE status = ?",
            (EntryStatus.PENDING.value, float(self._clock()), EntryStatus.FAILED.value),
        )
        return cursor.rowcount

    def purge_failed(self) -> int:
        """Delete every failed entry (freeing its bytes); return how many."""
        cursor = self._write("DELETE FROM entries WHERE status = ?", (EntryStatus.FAILED.value,))
        self.collect_segments()
        return cursor.rowcount

    def prune(self, now: float, retention: float = DELIVERED_RETENTION_SECONDS) -> int:
        """Delete delivered rows older than ``retention`` seconds, and the segments no row
        points into (:meth:`collect_segments`); return how many rows."""
        cursor = self._write(
            "DELETE FROM entries WHERE status IN (?, ?) AND delivered_at < ?",
            (EntryStatus.DELIVERED.value, EntryStatus.BATCH_FULL.value, now - retention),
        )
        self.collect_segments()
        return cursor.rowcount

    def collect_segments(self) -> int:
        """Delete the segment files no entry points into and no process writes; how many.

        Runs on open, on :meth:`prune` (which delivery calls every minute) and on
        :meth:`purge_failed`. A process's current segment is kept until it rotates
        (64 MiB or 5 minutes, at its next put) or it closes the outbox.
        """

        def referenced(name: str) -> bool:
            with self._lock:
                row = self._db.execute(
                    "SELECT 1 FROM entries WHERE segment = ? LIMIT 1", (name,)
                ).fetchone()
            return row is not None

        return collect(self.segments, referenced)

    # ------------------------------------------------------------------- reads

    def pending_in_batch(self, api_key: str, project: str, batch_name: str) -> int:
        """Pending entries (not yet handed to the platform) of one batch, for one API key.

        What a node adds to the platform's count of a capped batch: after a
        restart its limits start at 0 but these entries already took places.
        Entries being delivered are left out (the platform may have counted them).
        """
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM entries WHERE status = ? "
                # the codec's "batch"; rows written before the codec had "batch_name"
                "AND COALESCE(json_extract(metadata, '$.metadata.batch'), "
                "json_extract(metadata, '$.batch_name')) = ? "
                "AND json_extract(metadata, '$.project') = ? "
                "AND json_extract(metadata, '$.api_key') = ?",
                (EntryStatus.PENDING.value, batch_name, project, api_key),
            ).fetchone()
        return int(count)

    def next_due(self) -> float | None:
        """When the earliest pending entry is due (UNIX seconds), None when nothing is pending."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM entries WHERE status = ?",
                (EntryStatus.PENDING.value,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def get(self, entry_id: int) -> Entry | None:
        """One entry by id (with its datapoint), or None. An entry whose segment is gone
        (delivered and collected by another process since it was read, or deleted by
        hand) comes with empty image bytes."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (entry_id,)
            ).fetchone()
        if row is None:
            return None
        entries, _lost = self._with_bytes([row])
        return entries[0] if entries else _entry(row, b"")

    def stats(self, now: float | None = None) -> OutboxStats:
        """Counts by status, bytes held against the bound, oldest undelivered age."""
        at = float(self._clock()) if now is None else now
        with self._lock:
            counts = dict.fromkeys(EntryStatus, 0)
            for status, count in self._db.execute(
                "SELECT status, COUNT(*) FROM entries GROUP BY status"
            ):
                counts[EntryStatus(status)] = int(count)
            (held,) = self._db.execute("SELECT held FROM totals WHERE id = 1").fetchone()
            (oldest,) = self._db.execute(
                "SELECT MIN(created_at) FROM entries WHERE status IN (?, ?)",
                (EntryStatus.PENDING.value, EntryStatus.DELIVERING.value),
            ).fetchone()
        age = None if oldest is None else max(0.0, at - float(oldest))
        return OutboxStats(
            counts=counts, bytes=int(held), max_bytes=self.max_bytes, oldest_pending_age=age
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close the database connection and stop writing this process's segment. Idempotent."""
        with self._lock:
            self._closed = True
            self._writer.close()
            self._db.close()


def _full(held: int, max_bytes: int, size: int) -> OutboxFullError:
    return OutboxFullError(
        f"outbox is full: {held} of {max_bytes} bytes held, this datapoint needs {size}"
    )

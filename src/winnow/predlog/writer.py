"""The node side of the prediction log: a memory buffer, open segments, closed Parquet files.

``PredictionLog.append(entry)`` is all the serving side does (after the response,
on the collector's thread or the event loop): one ``deque.append`` of plain
references, no conversion, no I/O, no lock. A flush thread, every
``flush_seconds``:

1. resolves each entry's workspace (``workspace_of(api_key)``, cached per key)
   and builds Arrow record batches (:func:`winnow.predlog.record.to_table`);
2. appends them to the open segment of that workspace, an Arrow IPC *stream*
   file ``<dir>/open/<name>.arrows`` (a crash loses at most the last
   ``flush_seconds``: a stream file is readable up to its last whole batch);
3. closes a segment once it is ``segment_seconds`` old or ``segment_bytes``
   large: its batches become one Parquet file (zstd) written to a temp file,
   fsynced and renamed to ``<dir>/closed/<name>.parquet``. Only closed files are
   shipped (:mod:`winnow.predlog.shipping`).

One segment holds one workspace's records, so it is uploaded with a key of
that workspace and stored under that workspace's prefix on the platform. The
key travels in a sidecar file ``<name>.key`` (mode 0600, as private as the
outbox that holds keys too); it never enters the segment.

Names are unique per node and process: ``<node>.<UTC start>.<pid>.<random>.<seq>``;
the start time (``%Y%m%dT%H%M%S``) sorts segments and names their day on the
platform. Several processes (``--workers``) share ``<dir>``: each holds an
exclusive ``flock`` on its open files, and :meth:`PredictionLog.recover` (at
start) closes only open files whose lock is free, i.e. whose process died.
Recovering the same file twice yields the same name, which the platform stores
once.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from winnow.durable import fsync_folder
from winnow.predictions import Prediction
from winnow.predlog.entry import Entry

if TYPE_CHECKING:
    import pyarrow as pa

    from winnow.metrics import Metrics
    from winnow.settings import Settings

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".arrows"
CLOSED_SUFFIX = ".parquet"
KEY_SUFFIX = ".key"
TEMP_PREFIX = ".tmp-"


class SizedImage(Protocol):
    """An image as served (``winnow.images.CapturedImage``): only its size is recorded."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


class ContextLike(Protocol):
    """Who asked (``winnow.activelearning.datapoint.CollectionContext``)."""

    @property
    def api_key(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def inference_id(self) -> str | None: ...
    @property
    def source(self) -> str: ...


class DecisionLike(Protocol):
    """What the collector decided (``winnow.activelearning.decision.Decision``)."""

    @property
    def time(self) -> datetime: ...
    @property
    def outcome(self) -> str: ...
    @property
    def workspace(self) -> str | None: ...
    @property
    def matched(self) -> tuple[str, ...]: ...
    @property
    def limited_by(self) -> str | None: ...
    @property
    def paid(self) -> str | None: ...
    @property
    def config_version(self) -> int | None: ...


@dataclass(slots=True)
class _Open:
    """One open segment: its stream writer, the lock held on it, and when it started."""

    name: str
    path: Path
    workspace: str
    handle: pa.NativeFile
    writer: pa.ipc.RecordBatchStreamWriter
    fd: int
    started: float
    records: int = 0


class PredictionLog:
    """Buffers records in memory and writes them as segments under ``directory``.

    ``workspace_of(api_key)`` names the workspace of a key (the model registry's
    cached lookup); it is called only from the flush thread. An entry whose
    workspace cannot be resolved is kept for the next flush (the platform may be
    down) up to ``buffer_records`` entries in all, then dropped and counted.
    """

    def __init__(
        self,
        directory: Path,
        *,
        node: str,
        workspace_of: Callable[[str], str],
        max_objects: int = 100,
        flush_seconds: float = 1.0,
        segment_seconds: float = 60.0,
        segment_bytes: int = 64 * 1024 * 1024,
        buffer_records: int = 100_000,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.open_dir = self.directory / "open"
        self.closed_dir = self.directory / "closed"
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self.closed_dir.mkdir(parents=True, exist_ok=True)
        self.node = node
        self.workspace_of = workspace_of
        self.max_objects = max_objects
        self.flush_seconds = flush_seconds
        self.segment_seconds = segment_seconds
        self.segment_bytes = segment_bytes
        self.buffer_records = buffer_records
        self.metrics = metrics
        self._clock = clock
        self._buffer: collections.deque[Entry] = collections.deque()
        self._pending: list[Entry] = []  # entries whose workspace could not be resolved yet
        self._open: dict[str, _Open] = {}
        self._keys: dict[str, str] = {}  # api key -> workspace, learned by this log
        self._lock = threading.Lock()  # one flush at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token = secrets.token_hex(3)
        self._seq = 0
        self._logged: set[str] = set()
        self.dropped = 0
        # Called (no argument, from the flushing thread) after a segment was closed.
        self.on_closed: Callable[[], None] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        workspace_of: Callable[[str], str],
        metrics: Metrics | None = None,
    ) -> PredictionLog:
        """A log under ``settings.predlog_dir`` with every ``predlog_*`` setting."""
        return cls(
            settings.predlog_dir,
            node=settings.resolved_node_name,
            workspace_of=workspace_of,
            max_objects=settings.predlog_max_objects,
            flush_seconds=settings.predlog_flush_seconds,
            segment_seconds=settings.predlog_segment_seconds,
            segment_bytes=settings.predlog_segment_bytes,
            buffer_records=settings.predlog_buffer_records,
            metrics=metrics,
        )

    # ------------------------------------------------------------------ serving side

    def append(self, entry: Entry) -> bool:
        """Buffer one record; never raises, never blocks. False (counted) when the buffer is full."""
        if len(self._buffer) >= self.buffer_records:
            self._drop(1, "the prediction log's buffer is full: records are being dropped")
            return False
        self._buffer.append(entry)
        return True

    def decision(
        self,
        image: SizedImage,
        prediction: Prediction,
        context: ContextLike,
        decision: DecisionLike,
    ) -> None:
        """The collector's ``decisions`` sink: one record of a prediction and its decision.

        Matches ``winnow.activelearning.decision.DecisionSink`` (structurally: this unit
        does not import active learning). The record's ``time`` is the decision's, the
        time the collector's limit windows used.
        """
        self.append(
            Entry(
                time=decision.time,
                api_key=context.api_key,
                workspace=decision.workspace,
                project=context.project,
                source=context.source,
                model_id=context.model_id,
                inference_id=context.inference_id or "",
                width=image.width,
                height=image.height,
                prediction=prediction,
                outcome=str(decision.outcome),
                matched=decision.matched,
                limited_by=decision.limited_by,
                paid=decision.paid,
                config_version=decision.config_version,
            )
        )

    def served(
        self,
        image: SizedImage,
        prediction: Prediction,
        *,
        api_key: str,
        project: str,
        model_id: str,
        inference_id: str,
        outcome: str,
        source: str = "http",
    ) -> None:
        """One record of a prediction the collector never saw (collection off or disabled by
        the request: ``disabled``; the hand-off queue full: ``dropped``), timed now."""
        self.append(
            Entry(
                time=datetime.fromtimestamp(self._clock(), UTC),
                api_key=api_key,
                workspace=None,
                project=project,
                source=source,
                model_id=model_id,
                inference_id=inference_id,
                width=image.width,
                height=image.height,
                prediction=prediction,
                outcome=outcome,
            )
        )

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Recover what a dead process left open, then flush every ``flush_seconds`` in a thread."""
        self.recover()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="winnow-predlog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, flush what is buffered and close every open segment."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()
        self.close_segments()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception as exc:  # the next flush tries again; serving goes on
                self._log_once(
                    f"flush:{type(exc).__name__}", "prediction log flush failed: %s", exc
                )

    # ------------------------------------------------------------------ writing

    def flush(self) -> int:
        """Write every buffered entry to its workspace's open segment, then close the segments
        that are due; return how many records were written."""
        with self._lock:
            entries = self._pending
            self._pending = []
            while True:
                try:
                    entries.append(self._buffer.popleft())
                except IndexError:
                    break
            groups: dict[str, list[Entry]] = {}
            for entry in entries:
                workspace = entry.workspace or self._resolve(entry.api_key)
                if workspace is None:
                    self._pending.append(entry)
                    continue
                self._keys.setdefault(entry.api_key, workspace)
                groups.setdefault(workspace, []).append(entry)
            if len(self._pending) > self.buffer_records:
                excess = len(self._pending) - self.buffer_records
                del self._pending[:excess]
                self._drop(excess, "prediction records dropped: their workspace is unknown")
            written = 0
            if groups:
                from winnow.predlog.record import to_table  # pyarrow, once there are records
            for workspace, group in groups.items():
                table = to_table(
                    group, node=self.node, workspaces=[workspace] * len(group), cap=self.max_objects
                )
                segment = self._segment(workspace, group[0].api_key)
                for batch in table.to_batches():
                    segment.writer.write_batch(batch)
                segment.handle.flush()
                segment.records += len(group)
                written += len(group)
            if written and self.metrics is not None:
                self.metrics.prediction_records.labels(state="written").inc(written)
            closed = self._rotate(force=False)
        if closed and self.on_closed is not None:
            self.on_closed()
        return written

    def close_segments(self) -> list[Path]:
        """Close every open segment now; return the Parquet files written."""
        with self._lock:
            closed = self._rotate(force=True)
        if closed and self.on_closed is not None:
            self.on_closed()
        return closed

    def _rotate(self, *, force: bool) -> list[Path]:
        now = self._clock()
        closed = []
        for workspace, segment in list(self._open.items()):
            due = (
                force
                or now - segment.started >= self.segment_seconds
                or segment.handle.tell() >= self.segment_bytes
            )
            if not due:
                continue
            del self._open[workspace]
            segment.writer.close()
            segment.handle.close()
            path = _close_file(segment.path, self.closed_dir)
            os.close(segment.fd)  # the lock goes with it, once the file is closed
            if path is not None:
                closed.append(path)
                if self.metrics is not None:
                    self.metrics.prediction_segments.labels(state="closed").inc()
        return closed

    def _segment(self, workspace: str, api_key: str) -> _Open:
        segment = self._open.get(workspace)
        if segment is not None:
            return segment
        started = self._clock()
        self._seq += 1
        stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{self.node}.{stamp}.{os.getpid()}.{self._token}.{self._seq:06d}"
        path = self.open_dir / f"{name}{OPEN_SUFFIX}"
        _write_private(self.open_dir / f"{name}{KEY_SUFFIX}", api_key.encode())
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        import pyarrow as pa

        from winnow.predlog.record import SCHEMA

        handle = pa.OSFile(str(path), "wb")
        writer = pa.ipc.new_stream(handle, SCHEMA)
        segment = _Open(name, path, workspace, handle, writer, fd, started)
        self._open[workspace] = segment
        return segment

    def _resolve(self, api_key: str) -> str | None:
        known = self._keys.get(api_key)
        if known is not None:
            return known
        try:
            return self.workspace_of(api_key)
        except Exception as exc:
            self._log_once(
                f"workspace:{type(exc).__name__}",
                "prediction records wait: the key's workspace is unknown (%s)",
                exc,
            )
            return None

    # ------------------------------------------------------------------ recovery, listing

    def recover(self) -> list[Path]:
        """Close the open segments of processes that died (their lock is free); return the
        Parquet files written. Segments other live processes hold are left alone."""
        recovered = []
        with self._lock:
            mine = {segment.path for segment in self._open.values()}
            for path in sorted(self.open_dir.glob(f"*{OPEN_SUFFIX}")):
                if path in mine:
                    continue
                try:
                    fd = os.open(path, os.O_RDWR)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue  # a live process writes it
                try:
                    closed = _close_file(path, self.closed_dir)
                finally:
                    os.close(fd)
                if closed is not None:
                    recovered.append(closed)
                    if self.metrics is not None:
                        self.metrics.prediction_segments.labels(state="recovered").inc()
        return recovered

    def closed_segments(self) -> list[Path]:
        """The closed segments waiting to be shipped, oldest name first."""
        return closed_segments(self.closed_dir)

    # ------------------------------------------------------------------ helpers

    def _drop(self, count: int, message: str) -> None:
        self.dropped += count
        if self.metrics is not None:
            self.metrics.prediction_records.labels(state="dropped").inc(count)
        self._log_once(message, message)

    def _log_once(self, cause: str, message: str, *args: object) -> None:
        if cause in self._logged:
            log.debug(message, *args)
            return
        self._logged.add(cause)
        log.warning(message + " (logged once; see winnow_prediction_records)", *args)


def closed_segments(closed_dir: Path) -> list[Path]:
    """The closed segments in ``closed_dir``, oldest name first (temp files left out)."""
    return sorted(
        p for p in closed_dir.glob(f"*{CLOSED_SUFFIX}") if not p.name.startswith(TEMP_PREFIX)
    )


def key_path(segment: Path) -> Path:
    """The sidecar file holding the API key a segment is uploaded with."""
    return segment.with_suffix(KEY_SUFFIX)


def _read_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The whole batches of a stream file; a torn last batch (a crash mid-write) ends it."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(pa.OSFile(str(path), "rb"))
    except (pa.ArrowInvalid, OSError):
        return
    with contextlib.closing(reader):
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError):
                return


def _close_file(path: Path, closed_dir: Path) -> Path | None:
    """Turn the stream file ``path`` into ``closed_dir/<name>.parquet`` (temp, fsync, rename),
    its key sidecar moved along; None when it held no record (then it is only deleted)."""
    name = path.name[: -len(OPEN_SUFFIX)]
    key = path.with_suffix(KEY_SUFFIX)
    batches = [b for b in _read_batches(path) if b.num_rows]
    target = closed_dir / f"{name}{CLOSED_SUFFIX}"
    if batches:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from winnow.predlog.record import SCHEMA

        table = pa.Table.from_batches(batches, schema=SCHEMA)
        tmp = closed_dir / f"{TEMP_PREFIX}{name}{CLOSED_SUFFIX}"
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if key.exists():
            os.replace(key, key_path(target))
        os.replace(tmp, target)
    path.unlink(missing_ok=True)
    key.unlink(missing_ok=True)
    fsync_folder(closed_dir)
    return target if batches else None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)

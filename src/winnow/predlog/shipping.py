"""Shipping closed segments to the platform: at least once, and stored once (by name).

:class:`Shipper` sends every closed segment of a node's log folder (any
process's: ``--workers`` share it) to a :class:`SegmentSink`, oldest first,
and deletes the local file only once the sink said it is stored. The
platform stores a segment under its name and treats a name it already holds
as done, so a retry after a lost answer, a restart or two processes shipping
the same file never duplicate a record: nothing closed is lost (the file
stays until acknowledged) and nothing is stored twice.

A failure that may pass (network, 5xx, 429: ``DeliveryError(retryable=True)``
or any other exception) backs off (``backoff_base`` doubling to
``backoff_max``) and tries the same segment again. A refusal for good (a 4xx:
``retryable=False``) moves the segment to ``<dir>/rejected/`` (kept, logged,
counted), so one bad file does not hold back the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from winnow.errors import DeliveryError
from winnow.predlog.writer import CLOSED_SUFFIX, closed_segments, key_path

if TYPE_CHECKING:
    from winnow.metrics import Metrics

log = logging.getLogger(__name__)


class SegmentSink(Protocol):
    """Where closed segments go (``winnow.platform.clients.predlog``)."""

    def put_segment(self, name: str, data: bytes, *, workspace: str, api_key: str) -> bool:
        """Store the Parquet ``data`` of segment ``name`` (records of ``workspace``, uploaded
        with ``api_key``); True when stored now, False when the name was already stored.
        Raises ``DeliveryError`` (``retryable`` says whether to try again) or any error of
        the transport."""
        ...


def segment_workspace(path: Path) -> str:
    """The workspace of a closed segment's records (one per segment; read from its first row)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["workspace"])
    if table.num_rows == 0:
        raise ValueError(f"segment {path.name} holds no record")
    return str(table.column("workspace")[0].as_py())


class Shipper:
    """Ships the closed segments under ``closed_dir`` in a daemon thread (see the module)."""

    def __init__(
        self,
        closed_dir: Path,
        sink: SegmentSink,
        *,
        interval: float = 1.0,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        metrics: Metrics | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.closed_dir = Path(closed_dir)
        self.rejected_dir = self.closed_dir.parent / "rejected"
        self.sink = sink
        self.interval = interval
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.metrics = metrics
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sleep = sleep
        self._thread: threading.Thread | None = None
        self._failures = 0
        self.shipped = 0

    def ship_once(self) -> int:
        """Try every closed segment once, oldest first; stop at the first failure that may
        pass. Return how many were stored (or found stored) and removed locally."""
        shipped = 0
        for path in closed_segments(self.closed_dir):
            if self._stop.is_set() and self._thread is not None:
                break
            try:
                if self._ship(path):
                    shipped += 1
            except DeliveryError as exc:
                if not exc.retryable:
                    self._reject(path, exc)
                    continue
                self._retry(path, exc)
                break
            except Exception as exc:
                self._retry(path, exc)
                break
            else:
                self._failures = 0
        self.shipped += shipped
        return shipped

    def wake(self) -> None:
        """Ship now (a segment was just closed) instead of at the next interval."""
        self._wake.set()

    def start(self) -> None:
        """Ship in a daemon thread every ``interval`` seconds (backing off after failures)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="winnow-predlog-ship", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the upload in progress, then try once more what is closed (the
        log closed its segments just before); what is left ships at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        try:
            self.ship_once()
        except Exception as exc:
            log.warning("shipping prediction segments at stop failed: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.ship_once()
            except Exception as exc:  # listing failed: try again later
                log.warning("shipping prediction segments failed: %s", exc)
            delay = self.interval
            if self._failures:
                delay = min(self.backoff_max, self.backoff_base * 2 ** (self._failures - 1))
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._wake.wait(delay)
                self._wake.clear()

    def _ship(self, path: Path) -> bool:
        """Upload one segment under an exclusive lock (another process may ship it too)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False  # another process shipped it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if not path.exists():
                return False
            key_file = key_path(path)
            api_key = key_file.read_text().strip() if key_file.exists() else ""
            data = path.read_bytes()
            try:
                workspace = segment_workspace(path)
            except (ValueError, OSError) as exc:  # unreadable here: it never will be there
                raise DeliveryError(
                    f"segment {path.name} cannot be read: {exc}", retryable=False
                ) from None
            self.sink.put_segment(path.name, data, workspace=workspace, api_key=api_key)
            path.unlink(missing_ok=True)
            key_file.unlink(missing_ok=True)
        finally:
            os.close(fd)
        if self.metrics is not None:
            self.metrics.prediction_segments.labels(state="shipped").inc()
        return True

    def _retry(self, path: Path, exc: BaseException) -> None:
        self._failures += 1
        if self.metrics is not None:
            self.metrics.prediction_segments.labels(state="retried").inc()
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        log.log(level, "shipping prediction segment %s failed, will retry: %s", path.name, exc)

    def _reject(self, path: Path, exc: DeliveryError) -> None:
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, self.rejected_dir / path.name)
        key_path(path).unlink(missing_ok=True)
        if self.metrics is not None:
            self.metrics.prediction_segments.labels(state="rejected").inc()
        log.warning(
            "the platform refused prediction segment %s for good (kept in %s): %s",
            path.name,
            self.rejected_dir,
            exc,
        )


def is_segment_name(name: str) -> bool:
    """Whether ``name`` is a segment file name this log writes (``<...>.parquet``, safe chars)."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", name)) and name.endswith(
        CLOSED_SUFFIX
    )

"""The orphan sweep: blobs and temp files that no row references, left by a crashed platform.

A datapoint is stored blob first, rows second (``Platform.register``), and a
local blob is written to a ``.tmp-*`` file that is renamed into place. A
platform killed between those steps leaves a blob no row references, or a
temp file. :func:`sweep_orphans` deletes them once they are older than the
grace period (``blob_sweep_grace_seconds``).

Why that never deletes the blob of a datapoint in flight: the store is listed
*before* the referenced keys are read, and only entries written more than
``grace`` seconds before the listing are candidates. A blob still waiting for
its rows would have to wait longer than the grace period for its transaction,
which the default (15 minutes) rules out by orders of magnitude.

Only keys under the prefixes the platform writes are swept (``images/``,
``models/``, ``thumbs/``); anything else in a shared bucket is left alone.
A thumbnail is referenced while its image is.

The same thread enforces the prediction log's retention
(``PredictionStore.sweep``: ``predlog_retention_days`` / ``_bytes``) under
``predictions/``, which the orphan sweep never touches.

:class:`OrphanSweeper` runs the sweep once at start and every
``blob_sweep_interval_seconds`` in a background thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from winnow.platform.blobs import BlobStore, LocalBlobStore, S3BlobStore
from winnow.platform.schema import Image, ModelVersion

if TYPE_CHECKING:
    from winnow.metrics import Metrics
    from winnow.platform.service import Platform

log = logging.getLogger("winnow.platform.sweep")
SWEPT_PREFIXES = ("images/", "models/", "thumbs/")
THUMB_PREFIX = "thumbs/"


@dataclass(slots=True, frozen=True)
class SweepResult:
    """What one sweep deleted, and what it kept because it was younger than the grace period."""

    blobs: int
    temp_files: int
    young: int


def referenced_keys(platform: Platform) -> set[str]:
    """Every blob key a row of the database references (images and model versions)."""
    with platform.db.read() as session:
        keys = set(session.scalars(select(Image.blob_key)))
        keys.update(session.scalars(select(ModelVersion.blob_key)))
    return keys


def sweep_orphans(
    platform: Platform, *, grace: float, clock: Callable[[], float] = time.time
) -> SweepResult:
    """Delete blobs no row references and leftover temp files older than ``grace`` seconds."""
    cutoff = clock() - grace
    listed = list(platform.blobs.scan())  # list first, then read the rows (module docstring)
    candidates = [b for b in listed if b.modified < cutoff]
    young = len(listed) - len(candidates)
    referenced = referenced_keys(platform)
    blobs = temp_files = 0
    for blob in candidates:
        if blob.temp:
            platform.blobs.delete(blob.key)
            temp_files += 1
            continue
        if not blob.key.startswith(SWEPT_PREFIXES):
            continue
        owner = blob.key[len(THUMB_PREFIX) :] if blob.key.startswith(THUMB_PREFIX) else blob.key
        if owner in referenced:
            continue
        platform.blobs.delete(blob.key)
        blobs += 1
    return SweepResult(blobs=blobs, temp_files=temp_files, young=young)


def has_prediction_segments(blobs: BlobStore) -> bool:
    """Whether the store may hold prediction-log segments (cheap: one stat or one LIST of one
    key), so a platform without any never loads the log's reader (pyarrow)."""
    if isinstance(blobs, LocalBlobStore):
        return (blobs.root / "predictions").is_dir()
    if isinstance(blobs, S3BlobStore):
        prefix = f"{blobs.prefix}/predictions/" if blobs.prefix else "predictions/"
        listed = blobs.client.list_objects_v2(Bucket=blobs.bucket, Prefix=prefix, MaxKeys=1)
        return int(listed.get("KeyCount", 0)) > 0
    return True


class OrphanSweeper:
    """Runs :func:`sweep_orphans` at start and every ``interval`` seconds until stopped."""

    def __init__(
        self, platform: Platform, *, grace: float, interval: float, metrics: Metrics | None = None
    ) -> None:
        self.platform = platform
        self.grace = grace
        self.interval = interval
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="winnow-sweep", daemon=True)

    def start(self) -> None:
        """Start the background thread (the first sweep runs at once)."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the sweep in progress, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = sweep_orphans(self.platform, grace=self.grace)
            except Exception as exc:  # the next run tries again; the platform keeps serving
                log.warning("orphan sweep failed: %s", exc)
            else:
                if result.blobs or result.temp_files:
                    log.info(
                        "swept %d orphan blobs and %d temp files", result.blobs, result.temp_files
                    )
                if self.metrics is not None:
                    self.metrics.orphans_swept.labels(kind="blob").inc(result.blobs)
                    self.metrics.orphans_swept.labels(kind="temp").inc(result.temp_files)
                    self.metrics.sweeps.inc()
            try:  # the prediction log's retention (days, bytes) rides on the same schedule
                if not has_prediction_segments(self.platform.blobs):
                    self._stop.wait(self.interval)
                    continue
                kept = self.platform.predictions.sweep()
            except Exception as exc:
                log.warning("prediction log retention sweep failed: %s", exc)
            else:
                if kept.deleted:
                    log.info(
                        "deleted %d prediction-log segments (%d bytes) past retention",
                        kept.deleted,
                        kept.deleted_bytes,
                    )
            self._stop.wait(self.interval)


def start_sweeper(platform: Platform, metrics: Metrics | None = None) -> OrphanSweeper | None:
    """A started sweeper with the platform's settings, or None when the interval is 0."""
    settings = platform.settings
    if settings.blob_sweep_interval_seconds <= 0:
        return None
    sweeper = OrphanSweeper(
        platform,
        grace=settings.blob_sweep_grace_seconds,
        interval=settings.blob_sweep_interval_seconds,
        metrics=metrics,
    )
    sweeper.start()
    return sweeper

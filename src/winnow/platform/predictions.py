"""The platform side of the prediction log: segments in the blob store, retention, lookups.

Segments arrive whole (in-process from this process's nodes, or over
``PUT /v1/prediction-segments/{name}``) and are stored as blobs under
``predictions/<workspace_dir>/<YYYY-MM-DD>/<name>`` (the layout
:class:`winnow.predlog.query.RecordStore` reads), local folder or S3. A name
already stored is not written again (``store_segment`` returns False): shipping
is at least once, storage exactly once.

Queries never go through the ORM: :meth:`PredictionStore.records` is a
``RecordStore`` over the same blob store (``pyarrow.fs`` local or S3), read
with DuckDB (``winnow.predlog.query``).

Retention (:meth:`PredictionStore.sweep`, run by the platform's sweeper):
segments whose start is more than ``predlog_retention_days`` old are deleted,
then the oldest while all segments hold more than ``predlog_retention_bytes``.

Records of a segment not yet closed and shipped are not visible here: a record
appears once its segment closes on the node (``predlog_segment_seconds``,
default 60 s) and ships (a few seconds more; longer while the platform was
unreachable).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy import select

from winnow.errors import BadRequestError, ForbiddenError
from winnow.platform.schema import Image, Project
from winnow.predlog.query import RecordStore, read_records, segment_day, workspace_dir
from winnow.predlog.record import conform, record_to_json
from winnow.predlog.shipping import is_segment_name

if TYPE_CHECKING:
    from winnow.platform.blobs import BlobStore
    from winnow.platform.db import Database
    from winnow.settings import Settings

log = logging.getLogger("winnow.platform.predictions")

PREFIX = "predictions"


@dataclass(slots=True, frozen=True)
class RetentionResult:
    """What one retention sweep deleted, and what the log holds after it."""

    deleted: int
    deleted_bytes: int
    kept: int
    kept_bytes: int


def record_store_for(settings: Settings) -> RecordStore:
    """The :class:`RecordStore` over the platform's blob store (``resolved_blob_url``)."""
    url = settings.resolved_blob_url
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        endpoint = settings.s3_endpoint_url
        options: dict[str, Any] = {"region": settings.s3_region}
        if endpoint:
            endpoint_url = urlparse(endpoint)
            options["endpoint_override"] = endpoint_url.netloc or endpoint
            options["scheme"] = endpoint_url.scheme or "https"
        prefix = parsed.path.strip("/")
        root = "/".join(part for part in (parsed.netloc, prefix, PREFIX) if part)
        return RecordStore(pafs.S3FileSystem(**options), root)
    path = parsed.path if parsed.scheme == "file" else url
    return RecordStore.local(f"{path.rstrip('/')}/{PREFIX}")


class PredictionStore:
    """Stores, finds and expires prediction-log segments of one platform."""

    def __init__(self, settings: Settings, db: Database, blobs: BlobStore) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.records = record_store_for(settings)

    # ------------------------------------------------------------------ writes

    def store_segment(self, *, workspace: str, name: str, data: bytes) -> bool:
        """Check and store one segment of ``workspace``; False when ``name`` is already stored.

        BadRequestError for a name this log does not write or bytes that are no segment
        of the record schema; ForbiddenError when a record names another workspace.
        """
        if not is_segment_name(name):
            raise BadRequestError(
                f"segment name {name!r} must be letters, digits, - _ and dots, ending .parquet"
            )
        try:
            day = segment_day(name)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        key = f"{PREFIX}/{workspace_dir(workspace)}/{day}/{name}"
        if self.blobs.exists(key):
            return False
        try:
            read = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:  # ArrowInvalid is a ValueError too
            raise BadRequestError(f"segment {name} is not a Parquet file: {exc}") from None
        try:
            table = conform(read)
        except ValueError as exc:
            raise BadRequestError(f"segment {name}: {exc}") from None
        if table.num_rows == 0:
            raise BadRequestError(f"segment {name} holds no record")
        workspaces = set(table.column("workspace").unique().to_pylist())
        if workspaces != {workspace}:
            raise ForbiddenError(
                f"segment {name} holds records of another workspace than the key's"
            )
        self.blobs.put(key, data)
        return True

    # ------------------------------------------------------------------ reads

    def find(
        self, workspace: str, inference_id: str, *, around: datetime | None = None
    ) -> dict[str, Any] | None:
        """The record of ``inference_id`` in ``workspace`` as JSON values, with ``image_id``
        (the collected image, or None); None when no shipped segment holds it.

        ``around`` (e.g. when its image was received) reads only the segments of the two
        days before it to the hour after it. Without it the last day is read first (most
        lookups are of recent predictions), then every segment of the workspace: an
        inference id carries no time, so an old one costs a scan of the whole log
        (``bench/bench_predlog.py --lookup``).
        """
        windows: list[tuple[datetime | None, datetime | None]]
        if around is not None:
            windows = [(around - timedelta(days=2), around + timedelta(hours=1))]
        else:
            now = datetime.now(UTC)
            windows = [(now - timedelta(days=1), None), (None, now - timedelta(days=1))]
        for since, until in windows:
            table = read_records(
                self.records,
                workspace=workspace,
                inference_id=inference_id,
                since=since,
                until=until,
            )
            if table.num_rows:
                record = record_to_json(table.slice(table.num_rows - 1).to_pylist()[0])
                record["image_id"] = self.image_of(workspace, inference_id)
                return record
        return None

    def image_of(self, workspace: str, inference_id: str) -> str | None:
        """The id of the image collected from ``inference_id`` in ``workspace``, if any."""
        from winnow.platform.schema import Workspace

        with self.db.read() as session:
            image_id = session.scalars(
                select(Image.id)
                .join(Project, Project.id == Image.project_id)
                .join(Workspace, Workspace.id == Project.workspace_id)
                .where(Workspace.name == workspace, Image.inference_id == inference_id)
                .limit(1)
            ).first()
        return None if image_id is None else str(image_id)

    # ------------------------------------------------------------------ retention

    def sweep(self, *, now: datetime | None = None) -> RetentionResult:
        """Delete segments past ``predlog_retention_days``, then the oldest past
        ``predlog_retention_bytes`` (see the module docstring)."""
        now = now or datetime.now(UTC)
        store = self.records
        selector = pafs.FileSelector(store.root, allow_not_found=True, recursive=True)
        segments = []
        for info in store.filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet"):
                continue
            try:
                started = _started(info.base_name)
            except ValueError:
                continue
            segments.append((started, info.path, int(info.size or 0)))
        segments.sort()
        cutoff = now - timedelta(days=self.settings.predlog_retention_days)
        total = sum(size for _s, _p, size in segments)
        bound = self.settings.predlog_retention_bytes
        deleted = deleted_bytes = 0
        keep = []
        for started, path, size in segments:
            if started < cutoff or (bound and total > bound):
                self.blobs.delete(self._key(path))
                deleted += 1
                deleted_bytes += size
                total -= size
            else:
                keep.append(size)
        return RetentionResult(deleted, deleted_bytes, len(keep), sum(keep))

    def _key(self, path: str) -> str:
        root = self.records.root.rstrip("/")
        relative = path[len(root) + 1 :] if path.startswith(root + "/") else path
        return f"{PREFIX}/{relative}"


def _started(name: str) -> datetime:
    for part in name.split("."):
        if len(part) == 15 and part[8] == "T" and part.replace("T", "").isdigit():
            return datetime.strptime(part, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    raise ValueError(f"segment name {name!r} holds no start time")

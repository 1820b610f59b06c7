"""Registering images (with an optional prediction) into labeling batches, atomically.

``check_datapoint`` then ``register_datapoint`` are the one write path for
images (``Platform.register``, behind the reference upload route, the native
datapoints route and in-process delivery alike). ``check_datapoint`` is the
one validation of a ``DatapointMetadata``, before the blob is written; the
caller then writes the bytes to the blob store and passes the key, and
``register_datapoint`` writes every row in the caller's transaction: batch
(created on first use), image, tags and prediction annotation. The batch row is locked first
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are already
serialized by :meth:`winnow.platform.db.Database.write`), so the duplicate,
idempotency and ``max_batch_images`` checks that follow cannot race.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, NewType

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from winnow.activelearning.datapoint import DatapointMetadata
from winnow.activelearning.strategy_names import strategy_name_problem
from winnow.errors import BadRequestError, BatchFullError, PayloadTooLargeError
from winnow.image_formats import mime_type
from winnow.images import decode_image, jpeg_size, sha256_hex
from winnow.platform.schema import Batch, Image, ImageTag, Project
from winnow.platform.store.annotations import add_annotation, check_prediction
from winnow.platform.store.projects import get_al_config, max_batch_images
from winnow.settings import TAG_CHARS
from winnow.states import ImageStatus

TAG = re.compile(rf"^[{TAG_CHARS}]{{1,64}}$")
BATCH_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
SHORT_TEXT = 128


@dataclass(slots=True, frozen=True)
class CheckedImage:
    """Image bytes that decoded fine: size, hash and content type."""

    data: bytes
    sha256: str
    width: int
    height: int
    content_type: str


@dataclass(slots=True, frozen=True)
class RegisterResult:
    """What registering produced: the image, and whether it already existed."""

    image: Image
    duplicate: bool = False
    replayed: bool = False


def check_image(
    data: bytes, *, max_bytes: int, max_pixels: int, trusted: bool = False
) -> CheckedImage:
    """Decode ``data`` fully (corrupt and non-images fail) under the byte and pixel caps.

    ``trusted`` is for JPEGs this process encoded itself (in-process delivery
    from the collector): only the header is read for the size, since decoding
    again what was just encoded would be work done twice.
    """
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"image upload is {len(data)} bytes, over the limit of {max_bytes} bytes"
        )
    size = jpeg_size(data) if trusted else None
    if size is not None:
        width, height = size
    else:
        pixels = decode_image(data, max_pixels=max_pixels, auto_orient=True)
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
    content_type = _content_type(data)
    return CheckedImage(data, sha256_hex(data), width, height, content_type)


def _content_type(data: bytes) -> str:
    return mime_type(data)


def check_tags(tags: list[str] | tuple[str, ...], field: str = "tag") -> list[str]:
    """Tags in order without repeats; BadRequestError naming the first bad one."""
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not TAG.match(tag):
            raise BadRequestError(
                f"{field}: {tag!r} must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > {{ }} @"
            )
        if tag not in out:
            out.append(tag)
    return out


def check_batch_name(name: str, field: str = "batch") -> str:
    """A batch name: 1-256 characters without control characters."""
    if not isinstance(name, str) or not BATCH_NAME.match(name):
        raise BadRequestError(
            f"{field}: name {name!r} must be 1-256 characters without control characters"
        )
    return name


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(field: str, value: str | None, max_length: int = SHORT_TEXT) -> str | None:
    """A short text field: at most ``max_length`` characters, no control characters."""
    if value is not None and (
        not isinstance(value, str) or len(value) > max_length or _CONTROL.search(value)
    ):
        raise BadRequestError(
            f"{field}: must be a string of at most {max_length} characters without control characters"
        )
    return value


def check_strategy(value: str | None, field: str = "strategy") -> str | None:
    """A datapoint's ``strategy``: None, or a name by the configuration's own rule."""
    if value is not None:
        problem = strategy_name_problem(value)
        if problem is not None:
            raise BadRequestError(f"{field}: {problem}, got {repr(value)[:80]}")
    return value


CheckedMetadata = NewType("CheckedMetadata", DatapointMetadata)
"""Metadata that passed :func:`check_datapoint`: what :func:`register_datapoint` takes."""


def check_datapoint(meta: DatapointMetadata, project_type: str) -> CheckedMetadata:
    """The one validation of a datapoint's metadata for a project of ``project_type``.

    Raises BadRequestError naming the first bad field (prefixed by
    ``meta.where``, e.g. ``metadata.strategy``): the batch name, each tag,
    the strategy (the configuration's strategy-name rule), every text
    ``column()`` field (its length, no control characters),
    ``extra`` (JSON values only) and the prediction against the project type.
    Returns the metadata as stored: tags in order without repeats, and no
    prediction for a stub (the stub model predicts nothing).
    """
    where = meta.where
    check_batch_name(meta.batch_name, f"{where}batch")
    tags = check_tags(meta.tags, f"{where}tag")
    # The strategy-name rule of the AL configuration, so every name it accepts is stored.
    check_strategy(meta.strategy, f"{where}strategy")
    for f in fields(meta):
        max_length = f.metadata.get("max_length")
        if max_length is not None:
            check_text(f"{where}{f.name}", getattr(meta, f.name), max_length)
    if meta.extra is not None:
        try:
            json.dumps(meta.extra, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BadRequestError(f"{where}extra: must hold JSON values only ({exc})") from None
    prediction = meta.prediction
    if prediction is not None and prediction.get("is_stub"):
        prediction = None
    if prediction is not None:
        check_prediction(project_type, prediction)
    return CheckedMetadata(replace(meta, tags=tuple(tags), prediction=prediction))


def new_blob_key(project: Project, content_type: str) -> str:
    """A fresh blob key for an image of ``project`` (unique per attempt, never reused)."""
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(content_type, "bin")
    return f"images/{project.workspace_id}/{project.id}/{uuid.uuid4().hex}.{ext}"


def find_existing(
    *, session: Session, project: Project, sha256: str, idempotency_key: str | None
) -> RegisterResult | None:
    """An earlier registration of the same idempotency key, or the same bytes, if any."""
    if idempotency_key is not None:
        image = session.scalar(
            select(Image).where(
                Image.project_id == project.id, Image.idempotency_key == idempotency_key
            )
        )
        if image is not None:
            return RegisterResult(image, duplicate=False, replayed=True)
    image = session.scalar(
        select(Image).where(Image.project_id == project.id, Image.sha256 == sha256)
    )
    return RegisterResult(image, duplicate=True) if image is not None else None


def lock_batch(*, session: Session, project: Project, name: str) -> Batch:
    """Get or create the batch ``name`` and lock its row until the transaction ends."""
    values = {"project_id": project.id, "name": name, "image_count": 0}
    if session.get_bind().dialect.name == "postgresql":
        insert_stmt: Any = postgresql.insert(Batch).values(**values)
    else:
        insert_stmt = sqlite.insert(Batch).values(**values)
    session.execute(insert_stmt.on_conflict_do_nothing(index_elements=["project_id", "name"]))
    batch = session.scalar(
        select(Batch)
        .where(Batch.project_id == project.id, Batch.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert batch is not None  # inserted or present just above
    return batch


def register_datapoint(
    *,
    session: Session,
    project: Project,
    image: CheckedImage,
    blob_key: str,
    metadata: CheckedMetadata,
) -> RegisterResult:
    """Store an image already written under ``blob_key``, with tags and prediction, in one go.

    Returns the earlier image (``replayed``) when the idempotency key was seen,
    or (``duplicate``) when the same bytes are in the project; then nothing new
    is stored and the caller deletes its blob. Raises BatchFullError when the
    batch holds ``max_batch_images`` of the configuration in force.
    """
    batch_name = metadata.batch_name
    idempotency_key = metadata.idempotency_key
    batch = lock_batch(session=session, project=project, name=batch_name)
    existing = find_existing(
        session=session, project=project, sha256=image.sha256, idempotency_key=idempotency_key
    )
    if existing is not None:
        return existing
    cap = max_batch_images(get_al_config(session=session, project=project))
    if cap is not None and batch.image_count >= cap:
        raise BatchFullError(
            f"batch {batch_name!r} is full: it holds {batch.image_count} images and "
            f"max_batch_images is {cap}"
        )
    record = _image_row(project, batch, image, blob_key, metadata)
    session.add(record)
    batch.image_count += 1
    session.flush()
    _add_prediction(session, project, record, metadata)
    return RegisterResult(record)


def _image_row(
    project: Project, batch: Batch, image: CheckedImage, blob_key: str, metadata: CheckedMetadata
) -> Image:
    record = Image(
        project_id=project.id,
        batch_id=batch.id,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        content_type=image.content_type,
        blob_key=blob_key,
        metadata_json=metadata.extra,
        status=ImageStatus.UNLABELED,
        **metadata.columns(),
    )
    record.tags = [ImageTag(project_id=project.id, tag=tag) for tag in metadata.tags]
    return record


def _add_prediction(
    session: Session, project: Project, record: Image, metadata: CheckedMetadata
) -> None:
    if metadata.prediction is not None:
        add_annotation(
            session=session,
            image=record,
            project_type=project.type,
            body=json.dumps(metadata.prediction),
            name="prediction.json",
            prediction=True,
        )


@dataclass(slots=True, frozen=True)
class PendingImage:
    """One image of :func:`register_datapoints`: checked, its blob already written."""

    image: CheckedImage
    blob_key: str
    metadata: CheckedMetadata


def register_datapoints(
    *, session: Session, project: Project, items: Sequence[PendingImage]
) -> list[RegisterResult | BatchFullError]:
    """:func:`register_datapoint` for many images of one project, in the caller's transaction.

    The same rules, in the items' order (a replay by key, then the same bytes, then the
    batch cap), with each batch locked once (in name order), the cap read once and
    earlier registrations found with two queries; an item registered earlier in
    ``items`` counts as registered for the ones after it. A full batch refuses only
    the items past its cap (their BatchFullError in their place).
    """
    batches = {
        name: lock_batch(session=session, project=project, name=name)
        for name in sorted({item.metadata.batch_name for item in items})
    }
    keys = [item.metadata.idempotency_key for item in items if item.metadata.idempotency_key]
    by_key: dict[str, Image] = {}
    if keys:
        query = select(Image).where(Image.project_id == project.id, Image.idempotency_key.in_(keys))
        by_key = {str(image.idempotency_key): image for image in session.scalars(query)}
    shas = [item.image.sha256 for item in items]
    query = select(Image).where(Image.project_id == project.id, Image.sha256.in_(shas))
    by_sha = {image.sha256: image for image in session.scalars(query)}
    cap = max_batch_images(get_al_config(session=session, project=project))
    results: list[RegisterResult | BatchFullError] = []
    added: list[tuple[Image, CheckedMetadata]] = []
    for item in items:
        key = item.metadata.idempotency_key
        if key is not None and key in by_key:
            results.append(RegisterResult(by_key[key], duplicate=False, replayed=True))
            continue
        if item.image.sha256 in by_sha:
            results.append(RegisterResult(by_sha[item.image.sha256], duplicate=True))
            continue
        batch = batches[item.metadata.batch_name]
        if cap is not None and batch.image_count >= cap:
            results.append(
                BatchFullError(
                    f"batch {batch.name!r} is full: it holds {batch.image_count} images and "
                    f"max_batch_images is {cap}"
                )
            )
            continue
        record = _image_row(project, batch, item.image, item.blob_key, item.metadata)
        session.add(record)
        batch.image_count += 1
        by_sha[item.image.sha256] = record
        if key is not None:
            by_key[key] = record
        added.append((record, item.metadata))
        results.append(RegisterResult(record))
    session.flush()
    for record, metadata in added:
        _add_prediction(session, project, record, metadata)
    return results

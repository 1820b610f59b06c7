"""Build an export from the platform's stored rows (images, annotations, model versions).

For each selected image the newest human annotation wins; without one the
newest prediction is used (when ``use_predictions``), so an export is always
a pure function of what is stored. Annotation bodies are the reference-shaped
prediction JSON (detection family) or class names as text (classification).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError, PredictionFormatError
from winnow.image_formats import EXTENSIONS
from winnow.platform.export.model import (
    Annotation as ExportAnnotation,
)
from winnow.platform.export.model import (
    Box,
    ClassLabel,
    ExportDataset,
    ExportImage,
    KeypointObject,
    Polygon,
    assign_held_out_splits,
    dataset_from_images,
    image_extra,
)
from winnow.platform.schema import IMAGE_STATUSES, Annotation, Batch, Image, ModelVersion, Project
from winnow.predictions import (
    ClassificationPrediction,
    DetectionPrediction,
    prediction_from_json,
)
from winnow.states import LABELED_STATUSES, AnnotationKind

DEFAULT_STATUSES: tuple[str, ...] = LABELED_STATUSES
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """Which images go into an export, and how they are split."""

    batches: tuple[str, ...] = ()
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    use_predictions: bool = True


def check_statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    """Validate status names; BadRequestError naming the unknown one."""
    for status in statuses:
        if status not in IMAGE_STATUSES:
            raise BadRequestError(f"status: {status!r} is not one of {', '.join(IMAGE_STATUSES)}")
    return tuple(statuses) or DEFAULT_STATUSES


def annotations_from_body(
    project_type: str, fmt: str, body: str
) -> tuple[tuple[ExportAnnotation, ...], list[str]]:
    """Typed annotations of one stored body, and the keypoint names it uses (in id order)."""
    if fmt == "txt":
        return tuple(ClassLabel(line.strip()) for line in body.splitlines() if line.strip()), []
    try:
        data: Any = json.loads(body)
        task = "classification" if "classification" in project_type else project_type
        prediction = prediction_from_json(data, task)
    except (ValueError, PredictionFormatError):
        return (), []
    if isinstance(prediction, ClassificationPrediction):
        names = prediction.predicted_classes or (
            [prediction.top.class_name] if prediction.top else []
        )
        return tuple(ClassLabel(n) for n in names), []
    if not isinstance(prediction, DetectionPrediction):
        return (), []
    result: list[ExportAnnotation] = []
    keypoint_names: dict[int, str] = {}
    for det in prediction.detections:
        x1, y1, x2, y2 = det.xyxy()
        box = Box(det.class_name, x1, y1, x2, y2)
        if project_type == "instance-segmentation" and det.points and len(det.points) >= 3:
            result.append(Polygon(det.class_name, tuple((x, y) for x, y in det.points)))
        elif project_type == "keypoint-detection" and det.keypoints is not None:
            ordered = sorted(det.keypoints, key=lambda k: k.class_id)
            for k in ordered:
                keypoint_names.setdefault(k.class_id, k.class_name)
            width = max((k.class_id for k in ordered), default=-1) + 1
            by_id = {k.class_id: k for k in ordered}
            points = tuple(
                (by_id[i].x, by_id[i].y, 2 if by_id[i].confidence > 0 else 0)
                if i in by_id
                else (0.0, 0.0, 0)
                for i in range(width)
            )
            result.append(KeypointObject(box, points))
        else:
            result.append(box)
    return tuple(result), [keypoint_names[i] for i in sorted(keypoint_names)]


def file_name(image: Image) -> str:
    """The exported file name of a stored image: its id and the extension of its type.

    The type is the one recorded from the blob's magic bytes when it was stored
    (``Image.content_type``), so the name matches the bytes for every accepted
    format; an unrecorded type (``application/octet-stream``) keeps ``.jpg``.
    """
    return f"{image.id}{EXTENSIONS.get(image.content_type, '.jpg')}"


def project_classes(*, session: Session, project: Project) -> list[str]:
    """Class names of the newest model version, then the project's imported ones (in order)."""
    names = session.scalar(
        select(ModelVersion.class_names)
        .where(ModelVersion.project_id == project.id)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    result = [str(n) for n in names] if names else []
    result += [str(n) for n in project.class_names or () if str(n) not in result]
    return result


def _selected_images(*, session: Session, project: Project, query: ExportQuery) -> Iterator[Image]:
    stmt = select(Image).where(Image.project_id == project.id, Image.status.in_(query.statuses))
    if query.batches:
        batch_ids = list(
            session.scalars(
                select(Batch.id).where(
                    Batch.project_id == project.id, Batch.name.in_(query.batches)
                )
            )
        )
        stmt = stmt.where(Image.batch_id.in_(batch_ids))
    last = 0
    while True:
        page = list(session.scalars(stmt.where(Image.id > last).order_by(Image.id).limit(_CHUNK)))
        yield from page
        if len(page) < _CHUNK:
            return
        last = page[-1].id


def _chosen_annotations(
    *, session: Session, image_ids: list[int], use_predictions: bool
) -> dict[int, Annotation]:
    chosen: dict[int, Annotation] = {}
    rows = session.scalars(
        select(Annotation).where(Annotation.image_id.in_(image_ids)).order_by(Annotation.id)
    )
    for row in rows:
        current = chosen.get(row.image_id)
        if row.kind == AnnotationKind.HUMAN:
            chosen[row.image_id] = row  # newest human wins (ordered by id)
        elif use_predictions and (current is None or current.kind != AnnotationKind.HUMAN):
            chosen[row.image_id] = row
    return chosen


def build_export(*, session: Session, project: Project, query: ExportQuery) -> ExportDataset:
    """The export of ``project`` for ``query``: selected images, typed annotations, splits."""
    if query.batches:
        known = set(
            session.scalars(
                select(Batch.name).where(
                    Batch.project_id == project.id, Batch.name.in_(query.batches)
                )
            )
        )
        missing = [b for b in query.batches if b not in known]
        if missing:
            raise BadRequestError(
                f"batch: no batch named {missing[0]!r} in project {project.name!r}"
            )
    held_out = set(
        session.scalars(
            select(Batch.id).where(Batch.project_id == project.id, Batch.held_out.is_(True))
        )
    )
    images: list[ExportImage] = []
    held_out_names: set[str] = set()
    keypoint_names: list[str] = []
    pending: list[Image] = []

    def flush() -> None:
        chosen = _chosen_annotations(
            session=session,
            image_ids=[i.id for i in pending],
            use_predictions=query.use_predictions,
        )
        for image in pending:
            row = chosen.get(image.id)
            annotations: tuple[ExportAnnotation, ...] = ()
            if row is not None:
                annotations, names = annotations_from_body(project.type, row.format, row.body)
                if len(names) > len(keypoint_names):
                    keypoint_names[:] = names
            images.append(
                ExportImage(
                    file_name=file_name(image),
                    width=image.width,
                    height=image.height,
                    annotations=annotations,
                    source=image.blob_key,
                    extra=image_extra(
                        image.source,
                        image.source_info,
                        [t.tag for t in image.tags],
                        image.metadata_json,
                    ),
                )
            )
            if image.batch_id in held_out:
                held_out_names.add(images[-1].file_name)
        pending.clear()

    for image in _selected_images(session=session, project=project, query=query):
        pending.append(image)
        if len(pending) >= _CHUNK:
            flush()
    if pending:
        flush()
    split = assign_held_out_splits(images, held_out_names, query.split, query.seed)
    return dataset_from_images(
        split, project_classes(session=session, project=project), keypoint_names
    )

"""Reading what evaluation compares from the platform database, sliced.

An image is evaluated when it is labeled or reviewed, has a human annotation
(its newest one is the truth) and a prediction of the model version asked
for: that version's evaluation prediction (from a run, see
:mod:`winnow.evaluation.jobs`) when there is one, else the prediction it was
served with when the image's ``model_id`` is that version. Without a model
version every image's served prediction counts. Keyword-only functions taking
a Session, like :mod:`winnow.platform.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError, PredictionFormatError
from winnow.evaluation.classification import evaluate_classification
from winnow.evaluation.detection import evaluate_detection, evaluate_flat
from winnow.evaluation.flat import flat_of_bodies
from winnow.evaluation.samples import (
    DETECTION_FAMILY,
    ClassificationSample,
    DetectionSample,
    boxes_from_body,
    classes_from_body,
)
from winnow.platform.schema import (
    Annotation,
    Batch,
    EvaluationPrediction,
    Image,
    ImageTag,
    Project,
)
from winnow.states import LABELED_STATUSES, AnnotationKind

EVALUATED_STATUSES = LABELED_STATUSES


@dataclass(slots=True, frozen=True)
class EvaluationSlice:
    """Which images to evaluate; None (or empty) means any."""

    model_id: str | None = None
    batches: tuple[str, ...] = ()
    strategy: str | None = None
    config_version: int | None = None
    source: str | None = None
    tag: str | None = None
    since: date | None = None
    until: date | None = None
    image_ids: tuple[int, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The slice as JSON (dates as ISO strings), echoed in every report."""
        return {
            "model_id": self.model_id,
            "batches": list(self.batches),
            "strategy": self.strategy,
            "config_version": self.config_version,
            "source": self.source,
            "tag": self.tag,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def parse_day(name: str, value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` query value; BadRequestError naming ``name`` otherwise."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"{name}: must be a date YYYY-MM-DD, got {value!r}") from None


def _moment(session: Session, day: date) -> datetime:
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if session.get_bind().dialect.name == "sqlite":
        moment = moment.replace(tzinfo=None)  # SQLite stores naive UTC text
    return moment


def image_clauses(
    *, session: Session, project: Project, where: EvaluationSlice
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``Image`` for the slice (BadRequestError for an unknown batch)."""
    clauses: list[ColumnElement[bool]] = [Image.project_id == project.id]
    if where.batches:
        ids = list(
            session.scalars(
                select(Batch.id).where(
                    Batch.project_id == project.id, Batch.name.in_(where.batches)
                )
            )
        )
        if len(ids) != len(set(where.batches)):
            known = set(session.scalars(select(Batch.name).where(Batch.project_id == project.id)))
            missing = sorted(set(where.batches) - known)
            raise BadRequestError(f"batch: no batch named {', '.join(map(repr, missing))}")
        clauses.append(Image.batch_id.in_(ids))
    if where.strategy:
        clauses.append(Image.strategy == where.strategy)
    if where.config_version is not None:
        clauses.append(Image.config_version == where.config_version)
    if where.source:
        clauses.append(Image.source == where.source)
    if where.tag:
        tagged = select(ImageTag.image_id).where(
            ImageTag.project_id == project.id, ImageTag.tag == where.tag
        )
        clauses.append(Image.id.in_(tagged))
    if where.since:
        clauses.append(Image.received_at >= _moment(session, where.since))
    if where.until:
        clauses.append(Image.received_at < _moment(session, where.until + timedelta(days=1)))
    if where.image_ids:
        clauses.append(Image.id.in_(where.image_ids))
    return clauses


@dataclass(slots=True)
class Pair:
    """One image's truth and prediction bodies as stored: (format, body) each."""

    image: tuple[int, int, int]  # id, width, height
    truth: tuple[str, str]
    predicted: tuple[str, str]


def load_pairs(*, session: Session, project: Project, where: EvaluationSlice) -> list[Pair]:
    """Truth and prediction of every evaluated image of the slice, by image id."""
    clauses = [
        *image_clauses(session=session, project=project, where=where),
        Image.status.in_(EVALUATED_STATUSES),
    ]
    images = {
        row.id: row
        for row in session.execute(
            select(Image.id, Image.width, Image.height, Image.model_id).where(*clauses)
        )
    }
    truth: dict[int, tuple[str, str]] = {}
    served: dict[int, tuple[str, str]] = {}
    rows = session.execute(
        select(Annotation.image_id, Annotation.kind, Annotation.format, Annotation.body)
        .join(Image, Image.id == Annotation.image_id)
        .where(*clauses)
        .order_by(Annotation.id)
    )
    for image_id, kind, fmt, body in rows:
        if kind == AnnotationKind.HUMAN:
            truth[image_id] = (fmt, body)
        elif kind == AnnotationKind.PREDICTION:
            model = images[image_id].model_id
            if where.model_id is None or model == where.model_id:
                served[image_id] = (fmt, body)
    if where.model_id is not None:
        evaluated = session.execute(
            select(EvaluationPrediction.image_id, EvaluationPrediction.body)
            .join(Image, Image.id == EvaluationPrediction.image_id)
            .where(*clauses, EvaluationPrediction.model_id == where.model_id)
        )
        for image_id, body in evaluated:
            served[image_id] = ("json", body)
    return [
        Pair((i, images[i].width, images[i].height), truth[i], served[i])
        for i in sorted(truth.keys() & served.keys())
    ]


def detection_samples(pairs: Sequence[Pair]) -> list[DetectionSample]:
    """Parsed detection pairs; a pair whose body is not detection JSON is left out."""
    samples = []
    for pair in pairs:
        image_id, width, height = pair.image
        try:
            truth = boxes_from_body(pair.truth[1], pair.truth[0])
            predicted = boxes_from_body(pair.predicted[1], pair.predicted[0])
        except PredictionFormatError:
            continue  # a body of another task (the project type cannot change): not comparable
        samples.append(DetectionSample(image_id, width, height, truth, predicted))
    return samples


def classification_samples(pairs: Sequence[Pair]) -> list[ClassificationSample]:
    """Parsed classification pairs; a pair whose body does not parse is left out."""
    samples = []
    for pair in pairs:
        try:
            truth = classes_from_body(pair.truth[1], pair.truth[0])
            predicted = classes_from_body(pair.predicted[1], pair.predicted[0])
        except (PredictionFormatError, ValueError):
            continue
        samples.append(ClassificationSample(pair.image[0], truth, predicted))
    return samples


def report_of_pairs(project: Project, pairs: Sequence[Pair]) -> dict[str, Any]:
    """The figures of ``pairs`` for the project's task (see the ``evaluate_*`` functions)."""
    if project.type in DETECTION_FAMILY and project.type != "instance-segmentation":
        # Boxes only: straight from the bodies to rows, no Box per box (100,000s of them).
        flat = flat_of_bodies([p.image for p in pairs], [(p.truth, p.predicted) for p in pairs])
        return {**evaluate_flat(flat), "iou_type": "bbox"}
    if project.type in DETECTION_FAMILY:
        samples = detection_samples(pairs)
        segm = project.type == "instance-segmentation" and all(
            b.polygon is not None for s in samples for b in (*s.truth, *s.predicted)
        )
        report = evaluate_detection(samples, iou_type="segm" if segm else "bbox")
        report["iou_type"] = "segm" if segm else "bbox"
        return report
    return evaluate_classification(
        classification_samples(pairs), multi_label=project.type == "multi-label-classification"
    )


def evaluate_project(
    *, session: Session, project: Project, where: EvaluationSlice
) -> dict[str, Any]:
    """The evaluation report of a slice: ``project``, ``task``, ``slice`` and the figures."""
    pairs = load_pairs(session=session, project=project, where=where)
    report = report_of_pairs(project, pairs)
    return {"project": project.name, "task": project.type, "slice": where.to_json(), **report}


def _delta(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else float(b) - float(a)


def compare_versions(
    *, session: Session, project: Project, where: EvaluationSlice, a: str, b: str
) -> dict[str, Any]:
    """Versions ``a`` and ``b`` on the images both have predictions for, and ``b - a`` per class."""
    pairs_a = load_pairs(session=session, project=project, where=replace(where, model_id=a))
    pairs_b = load_pairs(session=session, project=project, where=replace(where, model_id=b))
    common = {p.image[0] for p in pairs_a} & {p.image[0] for p in pairs_b}
    report_a = report_of_pairs(project, [p for p in pairs_a if p.image[0] in common])
    report_b = report_of_pairs(project, [p for p in pairs_b if p.image[0] in common])
    keys = ("ap", "ap50", "precision", "recall", "f1")
    classes = sorted(set(report_a["per_class"]) | set(report_b["per_class"]))
    per_class = {}
    for name in classes:
        ca, cb = report_a["per_class"].get(name, {}), report_b["per_class"].get(name, {})
        per_class[name] = {k: _delta(ca.get(k), cb.get(k)) for k in keys if k in ca or k in cb}
    headline = ("map", "map50", "precision", "recall", "accuracy")
    return {
        "project": project.name,
        "task": project.type,
        "images": len(common),
        "a": {"model_id": a, **report_a},
        "b": {"model_id": b, **report_b},
        "difference": {
            **{k: _delta(report_a.get(k), report_b.get(k)) for k in headline if k in report_a},
            "per_class": per_class,
        },
    }

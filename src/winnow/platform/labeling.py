"""Store functions of the labeling UI: counts, neighbours, human annotations, review status.

Keyword-only functions taking a Session, like :mod:`winnow.platform.store`;
callers own the transaction. A human annotation is a new ``annotation`` row
of kind ``human`` next to the prediction (which is never replaced); saving
one marks the image ``labeled``. Review moves an image to ``reviewed``,
back to ``unlabeled`` (sent back) or to ``rejected``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError
from winnow.platform.schema import IMAGE_STATUSES, Annotation, Batch, Image, ImageTag, Project
from winnow.platform.store.annotations import add_annotation
from winnow.states import AnnotationKind, ImageStatus

REVIEW_STATUSES = (
    ImageStatus.REVIEWED,
    ImageStatus.UNLABELED,
    ImageStatus.REJECTED,
    ImageStatus.LABELED,
)
NO_STRATEGY = "(upload)"


@dataclass(slots=True)
class StatusCounts:
    """Images by status."""

    unlabeled: int = 0
    labeled: int = 0
    reviewed: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        """Every image."""
        return self.unlabeled + self.labeled + self.reviewed + self.rejected

    def add(self, status: str, n: int) -> None:
        """Add ``n`` images of ``status``."""
        if status in IMAGE_STATUSES:
            setattr(self, status, getattr(self, status) + n)


@dataclass(slots=True)
class StrategyCounts:
    """Stored images of one strategy, by status."""

    name: str
    counts: StatusCounts = field(default_factory=StatusCounts)


def project_status_counts(
    *, session: Session, project_ids: Sequence[int]
) -> dict[int, StatusCounts]:
    """Images by status for each project (one grouped query)."""
    result = {pid: StatusCounts() for pid in project_ids}
    if not project_ids:
        return result
    rows = session.execute(
        select(Image.project_id, Image.status, func.count())
        .where(Image.project_id.in_(project_ids))
        .group_by(Image.project_id, Image.status)
    )
    for pid, status, n in rows:
        result[pid].add(status, int(n))
    return result


def project_batch_counts(*, session: Session, project_ids: Sequence[int]) -> dict[int, int]:
    """How many batches each project has."""
    rows = session.execute(
        select(Batch.project_id, func.count())
        .where(Batch.project_id.in_(project_ids))
        .group_by(Batch.project_id)
    )
    return {pid: int(n) for pid, n in rows}


def batch_status_counts(*, session: Session, project: Project) -> dict[int, StatusCounts]:
    """Images by status for each batch of the project."""
    result: dict[int, StatusCounts] = {}
    rows = session.execute(
        select(Image.batch_id, Image.status, func.count())
        .where(Image.project_id == project.id)
        .group_by(Image.batch_id, Image.status)
    )
    for batch_id, status, n in rows:
        result.setdefault(batch_id, StatusCounts()).add(status, int(n))
    return result


def strategy_counts(*, session: Session, project: Project) -> list[StrategyCounts]:
    """Stored (delivered) images of each strategy, by status; uploads count as ``(upload)``."""
    found: dict[str, StrategyCounts] = {}
    rows = session.execute(
        select(Image.strategy, Image.status, func.count())
        .where(Image.project_id == project.id)
        .group_by(Image.strategy, Image.status)
    )
    for strategy, status, n in rows:
        name = strategy or NO_STRATEGY
        found.setdefault(name, StrategyCounts(name)).counts.add(status, int(n))
    return sorted(found.values(), key=lambda s: s.name)


def _day_expression(session: Session) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(Image.received_at)
    return func.to_char(func.timezone("UTC", Image.received_at), "YYYY-MM-DD")


def daily_counts(
    *, session: Session, project: Project, days: int, today: date | None = None
) -> tuple[list[date], dict[str, list[int]]]:
    """Images received per UTC day and strategy over the last ``days`` days (today included)."""
    end = today or datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    axis = [start + timedelta(days=i) for i in range(days)]
    index = {d.isoformat(): i for i, d in enumerate(axis)}
    day = _day_expression(session)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if session.get_bind().dialect.name == "sqlite":
        since = since.replace(tzinfo=None)  # SQLite stores naive UTC text
    rows = session.execute(
        select(day, Image.strategy, func.count())
        .where(Image.project_id == project.id, Image.received_at >= since)
        .group_by(day, Image.strategy)
    )
    series: dict[str, list[int]] = {}
    for key, strategy, n in rows:
        position = index.get(str(key))
        if position is None:
            continue
        series.setdefault(strategy or NO_STRATEGY, [0] * days)[position] += int(n)
    return axis, dict(sorted(series.items()))


def strategy_names(*, session: Session, project: Project) -> list[str]:
    """Distinct strategies of the project's images."""
    rows = session.scalars(
        select(Image.strategy)
        .where(Image.project_id == project.id, Image.strategy.is_not(None))
        .distinct()
    )
    return sorted(str(s) for s in rows)


def batch_sources(*, session: Session, batch: Batch, limit: int = 200) -> list[str]:
    """Distinct sources of the batch's images, at most ``limit`` (offered to the source filter)."""
    rows = session.scalars(
        select(Image.source)
        .where(
            Image.project_id == batch.project_id,
            Image.batch_id == batch.id,
            Image.source.is_not(None),
        )
        .distinct()
        .order_by(Image.source)
        .limit(limit)
    )
    return [str(s) for s in rows]


def batch_tags(*, session: Session, batch: Batch, limit: int = 200) -> list[str]:
    """Distinct tags of the batch's images, at most ``limit`` (offered to the tag filter)."""
    rows = session.scalars(
        select(ImageTag.tag)
        .join(Image, Image.id == ImageTag.image_id)
        .where(Image.project_id == batch.project_id, Image.batch_id == batch.id)
        .distinct()
        .order_by(ImageTag.tag)
        .limit(limit)
    )
    return [str(t) for t in rows]


def filtered_ids_query(
    *,
    project: Project,
    batch: Batch | None,
    status: str | None,
    strategy: str | None,
    tag: str | None,
    source: str | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses of the batch grid's filters (shared by the grid and prev/next)."""
    clauses: list[ColumnElement[bool]] = [Image.project_id == project.id]
    if batch is not None:
        clauses.append(Image.batch_id == batch.id)
    if status:
        if status not in IMAGE_STATUSES:
            raise BadRequestError(f"status: must be one of {', '.join(IMAGE_STATUSES)}")
        clauses.append(Image.status == status)
    if strategy:
        clauses.append(Image.strategy == strategy)
    if source:
        clauses.append(Image.source == source)
    if tag:
        tagged = select(ImageTag.image_id).where(
            ImageTag.project_id == project.id, ImageTag.tag == tag
        )
        clauses.append(Image.id.in_(tagged))
    return clauses


def neighbours(
    *, session: Session, image: Image, clauses: list[ColumnElement[bool]]
) -> tuple[int | None, int | None]:
    """Ids of the previous and next image (by id) matching ``clauses``."""
    prev_id = session.scalar(
        select(Image.id).where(*clauses, Image.id < image.id).order_by(Image.id.desc()).limit(1)
    )
    next_id = session.scalar(
        select(Image.id).where(*clauses, Image.id > image.id).order_by(Image.id).limit(1)
    )
    return prev_id, next_id


def latest_annotations(*, session: Session, image_ids: Sequence[int]) -> dict[int, Annotation]:
    """For each image, its newest human annotation, else its newest prediction."""
    chosen: dict[int, Annotation] = {}
    if not image_ids:
        return chosen
    rows = session.scalars(
        select(Annotation).where(Annotation.image_id.in_(image_ids)).order_by(Annotation.id)
    )
    for row in rows:
        current = chosen.get(row.image_id)
        human = AnnotationKind.HUMAN
        if row.kind == human or current is None or current.kind != human:
            chosen[row.image_id] = row
    return chosen


def recent_class_names(*, session: Session, project: Project, limit: int = 100) -> list[str]:
    """Annotation bodies of the project's newest ``limit`` images (to offer their classes)."""
    image_ids = list(
        session.scalars(
            select(Image.id)
            .where(Image.project_id == project.id)
            .order_by(Image.id.desc())
            .limit(limit)
        )
    )
    if not image_ids:
        return []
    return list(session.scalars(select(Annotation.body).where(Annotation.image_id.in_(image_ids))))


def save_human_annotation(
    *, session: Session, image: Image, project: Project, body: str, name: str
) -> Annotation:
    """Store ``body`` as a human annotation (validated for the project type); image becomes labeled."""
    record = add_annotation(
        session=session,
        image=image,
        project_type=project.type,
        body=body,
        name=name,
        prediction=False,
    )
    image.status = ImageStatus.LABELED
    session.flush()
    return record


def set_image_status(*, session: Session, image: Image, status: str) -> Image:
    """Set the review status of one image."""
    if status not in REVIEW_STATUSES:
        raise BadRequestError(
            f"status: must be one of {', '.join(REVIEW_STATUSES)}; got {status!r}"
        )
    image.status = status
    session.flush()
    return image


def review_batch(*, session: Session, batch: Batch, action: str) -> int:
    """Accept (``accept``: labeled -> reviewed) or send back (``send_back``: labeled -> unlabeled).

    Returns how many images changed.
    """
    targets = {"accept": ImageStatus.REVIEWED, "send_back": ImageStatus.UNLABELED}
    if action not in targets:
        raise BadRequestError(f"action: must be accept or send_back; got {action!r}")
    result = session.execute(
        update(Image)
        .where(Image.batch_id == batch.id, Image.status == ImageStatus.LABELED)
        .values(status=targets[action])
    )
    return int(getattr(result, "rowcount", 0) or 0)

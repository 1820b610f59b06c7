"""Reading batches, jobs and images: listings with filters and cursor pagination."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError, NotFoundError
from winnow.platform.schema import IMAGE_STATUSES, Batch, Image, ImageTag, Project, Workspace
from winnow.states import LABELED_STATUSES

MAX_PAGE = 1000
MAX_ID = 2**31 - 1  # ids are 32-bit integers on every database


@dataclass(slots=True, frozen=True)
class ImageFilters:
    """Filters of an image listing; None means any."""

    batch: str | None = None
    tag: str | None = None
    strategy: str | None = None
    status: str | None = None
    source: str | None = None


@dataclass(slots=True, frozen=True)
class BatchCounts:
    """A batch with its image counts by status."""

    batch: Batch
    images: int
    annotated: int


def list_batches(*, session: Session, project: Project) -> list[BatchCounts]:
    """The project's batches, oldest first, with how many images are labeled or reviewed."""
    annotated = (
        select(Image.batch_id, func.count().label("n"))
        .where(Image.project_id == project.id, Image.status.in_(LABELED_STATUSES))
        .group_by(Image.batch_id)
        .subquery()
    )
    rows = session.execute(
        select(Batch, func.coalesce(annotated.c.n, 0))
        .outerjoin(annotated, annotated.c.batch_id == Batch.id)
        .where(Batch.project_id == project.id)
        .order_by(Batch.id)
    ).all()
    return [BatchCounts(batch, batch.image_count, int(n)) for batch, n in rows]


def get_batch(*, session: Session, project: Project, name: str) -> Batch:
    """The project's batch ``name``; NotFoundError otherwise."""
    batch = session.scalar(select(Batch).where(Batch.project_id == project.id, Batch.name == name))
    if batch is None:
        raise NotFoundError(f"batch {name!r} not found")
    return batch


def parse_cursor(cursor: str | None) -> int:
    """The id after which a page starts; BadRequestError for a malformed cursor."""
    if cursor in (None, ""):
        return 0
    assert cursor is not None
    # isascii: str.isdigit() accepts digits int() refuses ("²"); the length bound keeps
    # int() off strings of thousands of digits (a ValueError past 4300).
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 19 or int(cursor) > MAX_ID:
        raise BadRequestError(f"cursor: {cursor!r} is not a cursor this server handed out")
    return int(cursor)


def list_images(
    *,
    session: Session,
    project: Project,
    filters: ImageFilters = ImageFilters(),
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[Image], str | None]:
    """One page of the project's images by id; returns the page and the next cursor (or None)."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit: must be between 1 and {MAX_PAGE}, got {limit}")
    if filters.status is not None and filters.status not in IMAGE_STATUSES:
        raise BadRequestError(f"status: must be one of {', '.join(IMAGE_STATUSES)}")
    from winnow.platform.store.datapoints import check_strategy, check_text

    check_text("batch", filters.batch, 256)
    check_text("tag", filters.tag, 64)
    check_strategy(filters.strategy)
    check_text("source", filters.source, 128)
    after = parse_cursor(cursor)
    query = select(Image).where(Image.project_id == project.id, Image.id > after)
    if filters.batch is not None:
        batch = get_batch(session=session, project=project, name=filters.batch)
        query = query.where(Image.batch_id == batch.id)
    if filters.status is not None:
        query = query.where(Image.status == filters.status)
    if filters.strategy is not None:
        query = query.where(Image.strategy == filters.strategy)
    if filters.source is not None:
        query = query.where(Image.source == filters.source)
    if filters.tag is not None:
        # EXISTS walks images in id order and probes (image_id, tag): fast on both databases.
        query = query.where(
            exists().where(ImageTag.image_id == Image.id, ImageTag.tag == filters.tag)
        )
    images = list(session.scalars(query.order_by(Image.id).limit(limit + 1)))
    next_cursor = str(images[limit - 1].id) if len(images) > limit else None
    return images[:limit], next_cursor


def get_image(*, session: Session, workspace: Workspace, image_id: int | str) -> Image:
    """The image ``image_id`` if it belongs to ``workspace``; NotFoundError otherwise."""
    text = str(image_id)
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not 1 <= int(text) <= MAX_ID:
        raise NotFoundError(f"image {image_id!r} not found")
    ident = int(text)
    image = session.scalar(
        select(Image)
        .join(Project, Project.id == Image.project_id)
        .where(Image.id == ident, Project.workspace_id == workspace.id)
    )
    if image is None:
        raise NotFoundError(f"image {image_id!r} not found")
    return image


def image_project(*, session: Session, image: Image) -> Project:
    """The project an image belongs to."""
    project = session.get(Project, image.project_id)
    assert project is not None  # foreign key
    return project

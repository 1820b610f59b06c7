"""Writing an imported dataset's rows: images with their human annotation, in one transaction.

The caller has written every image's bytes to the blob store already and
passes the keys; :func:`add_imported_images` writes the rows in the caller's
transaction (so the whole dataset is stored or none of it) and says which
images were already in the project, whose blobs the caller then deletes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.errors import BatchFullError
from winnow.platform.schema import Annotation, Batch, Image, ImageTag, Project
from winnow.platform.store.datapoints import check_batch_name, check_text, lock_batch
from winnow.platform.store.projects import get_al_config, max_batch_images
from winnow.states import AnnotationKind, ImageStatus

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ImportedImage:
    """One image of an import: stored bytes' key and facts, its checked annotation and identity.

    ``source``, ``source_info``, ``tags`` and ``metadata`` are checked by the
    caller (``importing.identity.check_identity``).
    """

    blob_key: str
    sha256: str
    width: int
    height: int
    size_bytes: int
    content_type: str
    name: str
    annotation_format: str
    annotation_body: str
    annotation_name: str
    source: str = "import"
    source_info: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None


def existing_hashes(*, session: Session, project: Project, hashes: Sequence[str]) -> set[str]:
    """Which of ``hashes`` are images of ``project`` already."""
    found: set[str] = set()
    unique = sorted(set(hashes))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        found.update(
            session.scalars(
                select(Image.sha256).where(Image.project_id == project.id, Image.sha256.in_(chunk))
            )
        )
    return found


def merge_class_names(project: Project, names: Sequence[str], known: Sequence[str]) -> list[str]:
    """Append to the project's class list the ``names`` not in it nor in ``known``; the added ones."""
    current = [str(n) for n in project.class_names or ()]
    added = [n for n in names if n not in current and n not in known]
    if added:
        project.class_names = current + added
    return added


def add_imported_images(
    *,
    session: Session,
    project: Project,
    batch_name: str,
    images: Sequence[ImportedImage],
    held_out: bool = False,
) -> tuple[Batch, list[ImportedImage]]:
    """Store ``images`` as labeled images of batch ``batch_name``; returns it and the duplicates.

    Images whose bytes are already in the project are left out and returned.
    ``held_out`` marks the batch as a held-out evaluation set (never unmarks
    it). Raises BatchFullError when the batch would exceed ``max_batch_images``.
    """
    check_batch_name(batch_name)
    batch = lock_batch(session=session, project=project, name=batch_name)
    present = existing_hashes(session=session, project=project, hashes=[i.sha256 for i in images])
    fresh = [i for i in images if i.sha256 not in present]
    duplicates = [i for i in images if i.sha256 in present]
    cap = max_batch_images(get_al_config(session=session, project=project))
    if cap is not None and batch.image_count + len(fresh) > cap:
        raise BatchFullError(
            f"batch {batch_name!r} holds {batch.image_count} images; {len(fresh)} more would "
            f"exceed max_batch_images {cap}"
        )
    if held_out:
        batch.held_out = True
    rows = []
    for item in fresh:
        check_text("name", item.name, 256)
        rows.append(
            Image(
                project_id=project.id,
                batch_id=batch.id,
                sha256=item.sha256,
                width=item.width,
                height=item.height,
                size_bytes=item.size_bytes,
                content_type=item.content_type,
                blob_key=item.blob_key,
                name=item.name,
                source=item.source,
                source_info=item.source_info,
                metadata_json=item.metadata,
                status=ImageStatus.LABELED,
                tags=[ImageTag(project_id=project.id, tag=tag) for tag in item.tags],
            )
        )
    session.add_all(rows)
    session.flush()
    session.add_all(
        Annotation(
            image_id=row.id,
            kind=AnnotationKind.HUMAN,
            format=item.annotation_format,
            body=item.annotation_body,
            name=item.annotation_name,
        )
        for row, item in zip(rows, fresh, strict=True)
    )
    batch.image_count += len(fresh)
    session.flush()
    return batch, duplicates

"""What the labeling page reads and hands its editor (``web/routes.py`` renders it).

:func:`read_label_view` reads, in the caller's transaction, the image of the
addressed project (404 for another project's), its batch, its neighbours in
the batch under the page's filters, its latest annotation and the classes to
offer; :func:`editor_data` turns that into the editor's JSON (``data_json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from winnow.errors import NotFoundError
from winnow.platform import labeling, store
from winnow.platform.export.rows import project_classes
from winnow.platform.schema import Batch, Image, Project, Workspace
from winnow.web.editor import editor_state


@dataclass(frozen=True)
class LabelView:
    """One image on the labeling page: where it stands and what it holds."""

    project: Project
    image: Image
    batch: Batch
    prev_id: int | None
    next_id: int | None
    row: Any  # the latest annotation (labeling.latest_annotations), or None
    classes: list[str]


def read_label_view(
    session: Session,
    workspace: Workspace,
    project: str,
    image_id: str,
    *,
    status: str | None,
    strategy: str | None,
    tag: str | None,
    source: str | None = None,
) -> LabelView:
    """The image ``image_id`` of ``project``; neighbours among the batch's images these filters keep."""
    target = store.get_project(session=session, workspace=workspace, name=project)
    image = store.get_image(session=session, workspace=workspace, image_id=image_id)
    if image.project_id != target.id:
        raise NotFoundError(f"image {image_id!r} not found")
    batch = session.get(Batch, image.batch_id)
    assert batch is not None
    clauses = labeling.filtered_ids_query(
        project=target, batch=batch, status=status, strategy=strategy, tag=tag, source=source
    )
    prev_id, next_id = labeling.neighbours(session=session, image=image, clauses=clauses)
    row = labeling.latest_annotations(session=session, image_ids=[image.id]).get(image.id)
    classes = _class_list(session, target)
    return LabelView(target, image, batch, prev_id, next_id, row, classes)


def editor_data(request: Request, view: LabelView, suffix: str) -> dict[str, Any]:
    """The editor's JSON: task, image, annotation state and the URLs it calls.

    ``suffix`` (the page's filter query, ``?...`` or empty) follows the
    previous/next/done links, so the filters hold from one image to the next.
    """
    target, image = view.project, view.image

    def label_url(ident: int | None) -> str | None:
        if ident is None:
            return None
        return request.url_for("label", project=target.name, image_id=str(ident)).path + suffix

    return {
        "task": target.type,
        "multi_label": target.type == "multi-label-classification",
        "image": {
            "id": image.id,
            "width": image.width,
            "height": image.height,
            "url": request.url_for("image_file", image_id=str(image.id)).path,
        },
        **_editor_fields(target.type, view.row, view.classes),
        "save_url": request.url_for("image_annotation", image_id=str(image.id)).path,
        "status_url": request.url_for("image_status", image_id=str(image.id)).path,
        "next_url": label_url(view.next_id),
        "prev_url": label_url(view.prev_id),
        "done_url": request.url_for("batch", project=target.name, batch=view.batch.name).path
        + suffix,
    }


def _editor_fields(task: str, row: Any, classes: list[str]) -> dict[str, Any]:
    """The editor's classes, objects, labels and keypoint names for the latest annotation."""
    state = editor_state(task, row.format if row else None, row.body if row else None)
    for obj in state["objects"]:
        if obj["cls"] not in classes:
            classes.append(obj["cls"])
    for name in state["labels"] + state.get("scored", []):
        if name not in classes:
            classes.append(name)
    keypoint_names: list[str] = []
    for obj in state["objects"]:
        if len(obj.get("keypoints", [])) > len(keypoint_names):
            keypoint_names = [k["name"] for k in obj["keypoints"]]
    return {
        "classes": classes,
        "objects": state["objects"],
        "labels": state["labels"],
        "keypoint_names": keypoint_names,
    }


def _class_list(session: Any, project: Any) -> list[str]:
    """Classes offered in the editor: the model's, then those used in recent annotations."""
    classes = project_classes(session=session, project=project)
    extra: set[str] = set()
    for recent in labeling.recent_class_names(session=session, project=project):
        fmt = "json" if recent.lstrip().startswith("{") else "txt"
        state = editor_state(project.type, fmt, recent)
        extra.update(o["cls"] for o in state["objects"])
        extra.update(state["labels"])
        extra.update(state.get("scored", []))
    # sorted, so that number keys stay put from one image to the next
    return classes + sorted(n for n in extra if n and n not in classes)

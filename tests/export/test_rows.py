"""Building exports from stored rows: status and batch filters, human over prediction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError
from winnow.platform.export import Box, ClassLabel, KeypointObject, Polygon
from winnow.platform.export.rows import ExportQuery, build_export, check_statuses
from winnow.platform.schema import Annotation, Base, Batch, Image, ModelVersion, Project, Workspace


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _project(session: Session, type_: str = "object-detection") -> Project:
    ws = Workspace(name="ws")
    session.add(ws)
    session.flush()
    project = Project(workspace_id=ws.id, name="p", type=type_)
    session.add(project)
    session.flush()
    return project


def _batch(session: Session, project: Project, name: str) -> Batch:
    batch = Batch(project_id=project.id, name=name)
    session.add(batch)
    session.flush()
    return batch


def _image(session: Session, project: Project, batch: Batch, status: str, n: int) -> Image:
    image = Image(
        project_id=project.id,
        batch_id=batch.id,
        sha256=f"{n:064d}",
        width=200,
        height=100,
        size_bytes=10,
        content_type="image/jpeg",
        blob_key=f"images/{n}.jpg",
        status=status,
    )
    session.add(image)
    session.flush()
    return image


def _det(cls: str, x: float, y: float, w: float, h: float, **extra: object) -> dict[str, object]:
    return {
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "confidence": 0.9,
        "class": cls,
        "class_id": 0,
        **extra,
    }


def _annotate(session: Session, image: Image, kind: str, preds: list[dict[str, object]]) -> None:
    body = json.dumps({"image": {"width": 200, "height": 100}, "predictions": preds})
    session.add(Annotation(image_id=image.id, kind=kind, format="json", body=body))
    session.flush()


def test_human_annotation_wins_over_prediction_and_statuses_filter(session: Session) -> None:
    project = _project(session)
    batch = _batch(session, project, "b1")
    labeled = _image(session, project, batch, "labeled", 1)
    _annotate(session, labeled, "prediction", [_det("cat", 50, 50, 20, 20)])
    _annotate(session, labeled, "human", [_det("dog", 100, 50, 40, 20)])
    predicted_only = _image(session, project, batch, "reviewed", 2)
    _annotate(session, predicted_only, "prediction", [_det("cat", 10, 10, 4, 4)])
    _image(session, project, batch, "unlabeled", 3)
    dataset = build_export(session=session, project=project, query=ExportQuery(split=(1, 0, 0)))
    by_name = {i.file_name: i for i in dataset.images}
    assert set(by_name) == {f"{labeled.id}.jpg", f"{predicted_only.id}.jpg"}
    assert by_name[f"{labeled.id}.jpg"].annotations == (Box("dog", 80, 40, 120, 60),)
    assert by_name[f"{predicted_only.id}.jpg"].annotations == (Box("cat", 8, 8, 12, 12),)
    assert by_name[f"{labeled.id}.jpg"].source == "images/1.jpg"
    no_preds = build_export(
        session=session, project=project, query=ExportQuery(use_predictions=False)
    )
    assert {i.file_name: i.annotations for i in no_preds.images}[f"{predicted_only.id}.jpg"] == ()


def test_batch_filter_and_unknown_batch(session: Session) -> None:
    project = _project(session)
    one, two = _batch(session, project, "one"), _batch(session, project, "two")
    a = _image(session, project, one, "labeled", 1)
    _image(session, project, two, "labeled", 2)
    dataset = build_export(session=session, project=project, query=ExportQuery(batches=("one",)))
    assert [i.file_name for i in dataset.images] == [f"{a.id}.jpg"]
    with pytest.raises(BadRequestError, match="nope"):
        build_export(session=session, project=project, query=ExportQuery(batches=("nope",)))


def test_project_classes_come_first_from_the_newest_model(session: Session) -> None:
    project = _project(session)
    batch = _batch(session, project, "b")
    image = _image(session, project, batch, "labeled", 1)
    _annotate(session, image, "human", [_det("zebra", 10, 10, 2, 2)])
    session.add(
        ModelVersion(
            project_id=project.id,
            version=1,
            task_type="object-detection",
            class_names=["dog", "cat"],
            sha256="0" * 64,
            size_bytes=1,
            blob_key="m",
            metadata_json={},
        )
    )
    session.flush()
    dataset = build_export(session=session, project=project, query=ExportQuery())
    assert dataset.classes == ("dog", "cat", "zebra")


def test_segmentation_keypoints_and_classification_bodies(session: Session) -> None:
    seg = _project(session, "instance-segmentation")
    image = _image(session, seg, _batch(session, seg, "s"), "labeled", 1)
    points = [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 10}]
    _annotate(session, image, "human", [_det("leaf", 5, 5, 10, 10, points=points)])
    dataset = build_export(session=session, project=seg, query=ExportQuery())
    assert dataset.images[0].annotations == (Polygon("leaf", ((0, 0), (10, 0), (10, 10))),)

    kp = Project(workspace_id=seg.workspace_id, name="k", type="keypoint-detection")
    session.add(kp)
    session.flush()
    image = _image(session, kp, _batch(session, kp, "k"), "labeled", 2)
    keypoints = [
        {"x": 3, "y": 4, "confidence": 0.9, "class_id": 1, "class": "eye"},
        {"x": 1, "y": 2, "confidence": 0.8, "class_id": 0, "class": "nose"},
    ]
    _annotate(session, image, "human", [_det("face", 5, 5, 10, 10, keypoints=keypoints)])
    dataset = build_export(session=session, project=kp, query=ExportQuery())
    assert dataset.keypoint_names == ("nose", "eye")
    assert dataset.images[0].annotations == (
        KeypointObject(Box("face", 0, 0, 10, 10), ((1, 2, 2), (3, 4, 2))),
    )

    cls = Project(workspace_id=seg.workspace_id, name="c", type="multi-label-classification")
    session.add(cls)
    session.flush()
    image = _image(session, cls, _batch(session, cls, "c"), "labeled", 3)
    session.add(Annotation(image_id=image.id, kind="human", format="txt", body="cat\ndog"))
    session.flush()
    dataset = build_export(session=session, project=cls, query=ExportQuery())
    assert dataset.images[0].annotations == (ClassLabel("cat"), ClassLabel("dog"))


def test_unknown_status_is_rejected_by_name() -> None:
    with pytest.raises(BadRequestError, match="done"):
        check_statuses(["labeled", "done"])
    assert check_statuses([]) == ("labeled", "reviewed")

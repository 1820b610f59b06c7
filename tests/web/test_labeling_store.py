"""The labeling store functions on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from tests.factories import KEY, add_image, make_boxes_json, new_project
from winnow.platform import labeling, store
from winnow.platform.schema import Batch, Image, Project
from winnow.platform.service import Platform


def _project(platform: Platform) -> Project:
    workspace = platform.workspace(KEY)
    return platform.project(workspace, "cars")


def test_counts_per_day_strategy_and_status(matrix_platform: Platform) -> None:
    platform = matrix_platform
    new_project(platform, "cars")
    ids = [
        add_image(platform, "cars", seed=i, predictions=[], strategy="a" if i < 3 else "b")
        for i in range(5)
    ]
    now = datetime.now(UTC)
    with platform.db.write() as session:
        session.execute(
            update(Image).where(Image.id == ids[0]).values(received_at=now - timedelta(days=2))
        )
        session.execute(
            update(Image).where(Image.id == ids[4]).values(received_at=now - timedelta(days=40))
        )
        session.execute(update(Image).where(Image.id.in_(ids[1:3])).values(status="labeled"))
    project = _project(platform)
    with platform.db.read() as session:
        axis, series = labeling.daily_counts(session=session, project=project, days=7)
        by_strategy = {
            s.name: s.counts for s in labeling.strategy_counts(session=session, project=project)
        }
        per_batch = labeling.batch_status_counts(session=session, project=project)
        totals = labeling.project_status_counts(session=session, project_ids=[project.id])
    assert len(axis) == 7 and axis[-1] == now.date()
    assert series == {"a": [0, 0, 0, 0, 1, 0, 2], "b": [0, 0, 0, 0, 0, 0, 1]}
    assert (by_strategy["a"].labeled, by_strategy["a"].total, by_strategy["b"].total) == (2, 3, 2)
    assert next(iter(per_batch.values())).labeled == 2
    assert totals[project.id].unlabeled == 3


def test_save_review_and_neighbours(matrix_platform: Platform) -> None:
    platform = matrix_platform
    new_project(platform, "cars")
    ids = [
        add_image(
            platform,
            "cars",
            seed=i,
            predictions=make_boxes_json([[5, 5, 2, 2]], class_name=["car"], confidence=[0.6]),
        )
        for i in range(4)
    ]
    project = _project(platform)
    with platform.db.write() as session:
        image = session.get(Image, ids[1])
        assert image is not None
        labeling.save_human_annotation(
            session=session,
            image=image,
            project=project,
            body='{"image": {"width": 640, "height": 480}, "predictions": []}',
            name="human.json",
        )
        assert image.status == "labeled"
    with platform.db.read() as session:
        image = session.get(Image, ids[1])
        assert image is not None
        batch = session.get(Batch, image.batch_id)
        everything = labeling.filtered_ids_query(
            project=project, batch=batch, status=None, strategy=None, tag=None
        )
        assert labeling.neighbours(session=session, image=image, clauses=everything) == (
            ids[0],
            ids[2],
        )
        unlabeled = labeling.filtered_ids_query(
            project=project, batch=batch, status="unlabeled", strategy=None, tag=None
        )
        assert labeling.neighbours(session=session, image=image, clauses=unlabeled) == (
            ids[0],
            ids[2],
        )
        chosen = labeling.latest_annotations(session=session, image_ids=ids)
        assert chosen[ids[1]].kind == "human" and chosen[ids[0]].kind == "prediction"
    with platform.db.write() as session:
        batch_row = store.list_batches(session=session, project=project)[0].batch
        assert labeling.review_batch(session=session, batch=batch_row, action="accept") == 1
    with platform.db.read() as session:
        image = session.get(Image, ids[1])
        assert image is not None and image.status == "reviewed"

"""A held-out batch's images never land in an export's training (or validation) split."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import KEY
from tests.importing.helpers import create_empty, jpeg
from winnow.platform import store
from winnow.platform.export import ExportImage, Split, assign_splits
from winnow.platform.export.model import assign_held_out_splits
from winnow.platform.export.rows import ExportQuery, build_export
from winnow.platform.schema import Batch
from winnow.platform.service import DatapointInput, Platform
from winnow.settings import Settings


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform.open(Settings(data_dir=tmp_path / "data", api_key=KEY))
    yield p
    p.close()


def _splits(platform: Platform, split: tuple[float, float, float]) -> dict[str, Split]:
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=platform.workspace(KEY), name="p")
        dataset = build_export(session=session, project=project, query=ExportQuery(split=split))
    return {img.file_name: img.split for img in dataset.images}


@pytest.mark.parametrize("split", [(1, 0, 0), (0.8, 0.1, 0.1), (0, 1, 0)])
def test_held_out_images_are_only_ever_in_the_test_split(
    platform: Platform, split: tuple[float, float, float]
) -> None:
    create_empty(platform, "p", "object-detection")
    ws = platform.workspace(KEY)
    eval_ids: list[int] = []
    train_ids: list[int] = []
    for seed in range(10):  # four held-out images, six others (distinct bytes each)
        result = platform.register(
            workspace=ws,
            project="p",
            data=jpeg(40, 30, 1000 + seed),
            datapoint=DatapointInput(batch_name="eval" if seed < 4 else "train"),
        )
        (eval_ids if seed < 4 else train_ids).append(int(result.image.id))
        platform.annotate(
            workspace=ws,
            project="p",
            image_id=str(result.image.id),
            body='{"predictions": []}',
            name="a.json",
            prediction=False,
        )
    before = _splits(platform, split)
    with platform.db.write() as session:
        for batch in session.scalars(select(Batch).where(Batch.name == "eval")):
            batch.held_out = True
    after = _splits(platform, split)
    held_out = {f"{i}.jpg" for i in eval_ids}
    assert {after[name] for name in held_out} == {Split.TEST}
    assert any(before[name] is not Split.TEST for name in held_out)  # the mark is what moved them
    others = [name for name in after if name not in held_out]
    assert len(others) == len(train_ids)


def test_the_other_images_split_as_if_the_held_out_ones_were_absent() -> None:
    images = [ExportImage(f"{i}.jpg", 10, 10) for i in range(20)]
    held = {f"{i}.jpg" for i in range(0, 20, 3)}
    result = assign_held_out_splits(images, held, (0.5, 0.5, 0.0), seed=3)
    rest = assign_splits([i for i in images if i.file_name not in held], (0.5, 0.5, 0.0), 3)
    assert [i for i in result if i.file_name not in held] == rest
    assert [i.file_name for i in result] == [i.file_name for i in images]
    assert {i.split for i in result if i.file_name in held} == {Split.TEST}

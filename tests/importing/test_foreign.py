"""Datasets written by another tool (supervision's as_coco / as_yolo / as_pascal_voc) import too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import supervision as sv

from tests.factories import KEY
from tests.importing.helpers import create_empty, export_to, import_from
from winnow.platform.export.formats import ExportFormat
from winnow.platform.service import Platform
from winnow.settings import Settings

CLASSES = ["cat", "dog"]
BOXES = {
    "one.png": ([[10, 20, 110, 140], [200, 30, 300, 230]], [0, 1]),
    "two.png": ([[0, 0, 80, 60]], [1]),
}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform.open(Settings(data_dir=tmp_path / "data", api_key=KEY))
    yield p
    p.close()


def foreign_dataset(folder: Path) -> sv.DetectionDataset:
    """Two random PNGs written under ``folder`` with their boxes, as supervision holds them."""
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True)
    annotations = {}
    for name, (xyxy, class_id) in BOXES.items():
        path = str(folder / name)
        cv2.imwrite(path, rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8))
        annotations[path] = sv.Detections(
            xyxy=np.array(xyxy, dtype=float), class_id=np.array(class_id)
        )
    return sv.DetectionDataset(classes=CLASSES, images=list(annotations), annotations=annotations)


def _class_ids(det: sv.Detections) -> Any:
    assert det.class_id is not None
    return det.class_id


def boxes_of(ds: sv.DetectionDataset) -> list[list[tuple[str, tuple[float, ...]]]]:
    """Every image's boxes, sorted (file names differ between the tools)."""
    found = [
        sorted(
            (ds.classes[int(c)], tuple(round(float(v), 1) for v in xyxy))
            for xyxy, c in zip(det.xyxy, _class_ids(det), strict=True)
        )
        for _path, _image, det in ds
    ]
    return sorted(found)


EXPECTED = sorted(
    sorted((CLASSES[c], tuple(float(v) for v in box)) for box, c in zip(xyxy, ids, strict=True))
    for xyxy, ids in BOXES.values()
)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_a_supervision_written_dataset_imports_with_its_boxes(
    platform: Platform, tmp_path: Path, fmt: str
) -> None:
    root = tmp_path / "foreign"
    ds = foreign_dataset(tmp_path / "source")
    if fmt == "coco":
        ds.as_coco(str(root / "images"), str(root / "annotations.json"))
    elif fmt == "yolo":
        ds.as_yolo(str(root / "train/images"), str(root / "train/labels"), str(root / "data.yaml"))
    else:
        ds.as_pascal_voc(str(root / "images"), str(root / "annotations"))
    create_empty(platform, "p", "object-detection")
    result = import_from(platform, "p", fmt, root)
    assert result.images == 2
    assert set(result.classes) == set(CLASSES)
    out = export_to(platform, "p", ExportFormat.VOC, tmp_path / "out", (1, 0, 0))
    back = sv.DetectionDataset.from_pascal_voc(str(out / "train"), str(out / "train"))
    assert boxes_of(back) == EXPECTED

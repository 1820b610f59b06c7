"""Export, import the export into a new project, export again: the same annotations, per format.

The exports are read back with pycocotools and supervision (as tests/export
does); images are matched by their bytes, since the second project's image
ids (and so file names) differ from the first's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import supervision as sv
from pycocotools.coco import COCO

from tests.importing.helpers import create_empty, det, digest, export_to, import_from, labeled
from winnow.platform.export.formats import ExportFormat
from winnow.platform.service import Platform
from winnow.settings import Settings

SPLIT = (0.5, 0.25, 0.25)
Items = list[tuple[tuple[int, int], Any]]


@pytest.fixture
def platform(import_settings: Settings) -> Iterator[Platform]:
    p = Platform.open(import_settings)
    yield p
    p.close()


def boxes() -> Items:
    return [
        ((320, 240), [det("cat", 10, 20, 110, 140), det("dog", 200, 30, 300, 230)]),
        ((160, 120), [det("dog", 0, 0, 80, 60)]),
        ((200, 100), [det("cat", 50.5, 10.25, 150.75, 90)]),
        ((100, 100), []),
    ]


def polygons() -> Items:
    square = [{"x": 10, "y": 10}, {"x": 110, "y": 10}, {"x": 110, "y": 60}, {"x": 10, "y": 60}]
    tri = [{"x": 20, "y": 20}, {"x": 60, "y": 20}, {"x": 40, "y": 70}]
    return [
        ((200, 200), [det("leaf", 10, 10, 110, 60, points=square)]),
        ((100, 80), [det("stem", 20, 20, 60, 70, points=tri), det("leaf", 1, 1, 9, 9, points=tri)]),
        ((120, 90), [det("leaf", 20, 20, 60, 70, points=tri)]),
        ((64, 64), []),
    ]


def poses() -> Items:
    def kp(points: list[tuple[float, float, float]]) -> list[dict[str, Any]]:
        names = ["nose", "left", "right"]
        return [
            {"x": x, "y": y, "confidence": c, "class_id": i, "class": names[i]}
            for i, (x, y, c) in enumerate(points)
        ]

    return [
        (
            (200, 100),
            [det("person", 20, 10, 120, 90, keypoints=kp([(30, 20, 1), (60, 50, 1), (0, 0, 0)]))],
        ),
        (
            (160, 160),
            [det("person", 5, 5, 80, 150, keypoints=kp([(10, 10, 1), (40, 60, 1), (70, 90, 1)]))],
        ),
        (
            (100, 100),
            [det("person", 1, 2, 50, 60, keypoints=kp([(3, 4, 1), (0, 0, 0), (20, 30, 1)]))],
        ),
        ((90, 90), []),
    ]


def labels(multi: bool) -> Items:
    return [
        ((50, 50), ["cat"]),
        ((60, 40), ["dog", "cat"] if multi else ["dog"]),
        ((40, 60), ["dog"]),
        ((30, 30), ["bird"]),
    ]


# ----------------------------------------------------------------- read back


def _coco_docs(root: Path) -> Iterator[tuple[Path, COCO]]:
    for path in sorted(root.glob("*/_annotations.coco.json")):
        yield path, COCO(str(path))


def read_coco(root: Path) -> dict[str, list[Any]]:
    """Per image (by bytes): its annotations as pycocotools and supervision load them."""
    out: dict[str, list[Any]] = {}
    for path, coco in _coco_docs(root):
        names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        for image in coco.loadImgs(coco.getImgIds()):
            items = []
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
                items.append(
                    (
                        names[ann["category_id"]],
                        tuple(round(v, 2) for v in ann["bbox"]),
                        tuple(tuple(round(v, 2) for v in ring) for ring in ann["segmentation"]),
                        tuple(round(v, 2) for v in ann.get("keypoints", ())),
                    )
                )
            out[digest(path.parent / image["file_name"])] = sorted(items)
        ds = sv.DetectionDataset.from_coco(str(path.parent), str(path))
        assert len(ds) == len(coco.getImgIds())
    return out


def _sv_boxes(ds: sv.DetectionDataset) -> dict[str, list[Any]]:
    out = {}
    for image_path, _image, found in ds:
        assert found.class_id is not None
        out[digest(Path(image_path))] = sorted(
            (ds.classes[int(c)], tuple(round(float(v), 1) for v in xyxy))
            for xyxy, c in zip(found.xyxy, found.class_id, strict=True)
        )
    return out


def read_yolo(root: Path) -> dict[str, list[Any]]:
    """Per image: supervision's boxes and the label file's lines."""
    out: dict[str, list[Any]] = {}
    for images in sorted(root.glob("*/images")):
        ds = sv.DetectionDataset.from_yolo(
            str(images), str(images.parent / "labels"), str(root / "data.yaml")
        )
        found = _sv_boxes(ds)
        for image in images.iterdir():
            text = (images.parent / "labels" / f"{image.stem}.txt").read_text()
            out[digest(image)] = [found[digest(image)], sorted(text.splitlines())]
    return out


def read_voc(root: Path) -> dict[str, list[Any]]:
    """Per image: supervision's Pascal VOC boxes."""
    out: dict[str, list[Any]] = {}
    for split in sorted(p for p in root.iterdir() if p.is_dir()):
        out.update(_sv_boxes(sv.DetectionDataset.from_pascal_voc(str(split), str(split))))
    return out


def read_folders(root: Path) -> dict[str, list[Any]]:
    """Per image: its class folders (supervision reads single-label folders)."""
    out: dict[str, list[Any]] = {}
    for image in sorted(root.glob("*/*/*")):
        out.setdefault(digest(image), []).append(image.parent.name)
    for split in sorted(p for p in root.iterdir() if p.is_dir()):
        ds = sv.ClassificationDataset.from_folder_structure(str(split))
        assert len(ds) == len(list(split.glob("*/*")))
    return {k: sorted(v) for k, v in out.items()}


READERS = {"coco": read_coco, "yolo": read_yolo, "voc": read_voc, "folders": read_folders}

CASES = [
    ("object-detection", "coco", boxes),
    ("object-detection", "yolo", boxes),
    ("object-detection", "voc", boxes),
    ("instance-segmentation", "coco", polygons),
    ("instance-segmentation", "yolo", polygons),
    ("keypoint-detection", "coco", poses),
    ("keypoint-detection", "yolo", poses),
    ("classification", "folders", lambda: labels(False)),
    ("multi-label-classification", "folders", lambda: labels(True)),
]


# pycocotools' compiled decoder trips a numpy 2 DeprecationWarning (not ours)
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize(("type_", "fmt", "items"), CASES, ids=[f"{t}-{f}" for t, f, _ in CASES])
def test_export_import_export_gives_the_same_annotations(
    platform: Platform, tmp_path: Path, type_: str, fmt: str, items: Any
) -> None:
    labeled(platform, "first", type_, items())
    first = export_to(platform, "first", ExportFormat(fmt), tmp_path / "first", SPLIT)
    create_empty(platform, "second", type_)
    result = import_from(platform, "second", fmt, first)
    assert result.images == len(items())
    second = export_to(platform, "second", ExportFormat(fmt), tmp_path / "second", SPLIT)
    expected = READERS[fmt](first)
    assert len(expected) == len(items())
    assert any(expected.values())  # the comparison is over real annotations
    assert READERS[fmt](second) == expected

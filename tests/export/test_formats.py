"""Round trips of every export format, read back by our own parsing and by real readers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from pycocotools.coco import COCO

from tests.export.datasets import (
    classification_images,
    detection_images,
    keypoint_images,
    segmentation_images,
)
from tests.factories import make_jpeg
from winnow.errors import BadRequestError
from winnow.platform.export import (
    Box,
    ExportFormat,
    ExportImage,
    KeypointObject,
    Polygon,
    dataset_from_images,
    export_files,
)
from winnow.platform.export.archive import write_directory
from winnow.platform.export.formats import coco_json, yolo_label_text

SIZES = {"a.jpg": (320, 240), "b.jpg": (160, 120), "c.jpg": (200, 100), "d.jpg": (100, 100)}


def _write(
    images: list[ExportImage], fmt: ExportFormat, out: Path, classes: Sequence[str] = ()
) -> None:
    dataset = dataset_from_images(images, classes, keypoint_names=("nose", "neck", "tail"))
    by_name = {img.file_name: img for img in images}

    def read(source: str) -> bytes:
        img = by_name[source]
        return make_jpeg(img.width, img.height, pattern="flat")

    write_directory(export_files(dataset, fmt), read, out)


def _boxes_by_image(images: list[ExportImage]) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    result: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for img in images:
        result[img.file_name] = sorted(
            (a.class_name, (a.x1, a.y1, a.x2, a.y2)) for a in img.annotations if isinstance(a, Box)
        )
    return result


def _sv_boxes(ds: sv.DetectionDataset) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    result: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for path, _image, det in ds:
        assert det.class_id is not None
        items = [
            (ds.classes[int(c)], tuple(float(v) for v in xyxy))
            for xyxy, c in zip(det.xyxy, det.class_id, strict=True)
        ]
        result[Path(path).name] = sorted(items)
    return result


def _assert_same(
    actual: dict[str, list[tuple[str, tuple[float, ...]]]],
    expected: dict[str, list[tuple[str, tuple[float, ...]]]],
    tol: float,
) -> None:
    assert set(actual) == set(expected)
    for name, boxes in expected.items():
        got = actual[name]
        assert [c for c, _ in got] == [c for c, _ in boxes], name
        for (_, g), (_, e) in zip(got, boxes, strict=True):
            np.testing.assert_allclose(g, e, atol=tol)


def test_coco_loads_in_pycocotools_and_supervision_with_same_boxes(tmp_path: Path) -> None:
    images = detection_images()
    _write(images, ExportFormat.COCO, tmp_path)
    expected = _boxes_by_image(images)
    for split, names in (("train", ["a.jpg", "b.jpg"]), ("valid", ["c.jpg"]), ("test", ["d.jpg"])):
        ann_path = tmp_path / split / "_annotations.coco.json"
        coco = COCO(str(ann_path))
        assert sorted(img["file_name"] for img in coco.dataset["images"]) == names
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat", "dog"]
        ds = sv.DetectionDataset.from_coco(str(tmp_path / split), str(ann_path))
        _assert_same(_sv_boxes(ds), {n: expected[n] for n in names}, tol=0.01)


def test_yolo_is_read_by_supervision_with_same_boxes(tmp_path: Path) -> None:
    images = detection_images()
    _write(images, ExportFormat.YOLO, tmp_path)
    expected = _boxes_by_image(images)
    for split, names in (("train", ["a.jpg", "b.jpg"]), ("valid", ["c.jpg"])):
        ds = sv.DetectionDataset.from_yolo(
            str(tmp_path / split / "images"),
            str(tmp_path / split / "labels"),
            str(tmp_path / "data.yaml"),
        )
        assert ds.classes == ["cat", "dog"]
        # normalization to 6 decimals: well under a pixel at these sizes
        _assert_same(_sv_boxes(ds), {n: expected[n] for n in names}, tol=0.01)


def test_voc_is_read_by_supervision_with_same_boxes(tmp_path: Path) -> None:
    images = detection_images()
    _write(images, ExportFormat.VOC, tmp_path)
    expected = _boxes_by_image(images)
    ds = sv.DetectionDataset.from_pascal_voc(str(tmp_path / "train"), str(tmp_path / "train"))
    _assert_same(_sv_boxes(ds), {n: expected[n] for n in ["a.jpg", "b.jpg"]}, tol=0.01)
    root = ET.parse(tmp_path / "valid" / "c.xml").getroot()
    assert root.findtext("size/width") == "200"
    assert root.findtext("object/name") == "cat"
    assert float(root.findtext("object/bndbox/xmin") or 0) == pytest.approx(51.5)


# pycocotools' compiled decoder trips a numpy 2 DeprecationWarning (not ours)
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_segmentation_polygons_round_trip(tmp_path: Path) -> None:
    images = segmentation_images()
    _write(images, ExportFormat.COCO, tmp_path)
    coco = COCO(str(tmp_path / "train" / "_annotations.coco.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns[0]["segmentation"] == [[10, 10, 110, 10, 110, 60, 10, 60]]
    assert anns[0]["area"] == pytest.approx(5000)
    assert anns[0]["bbox"] == [10, 10, 100, 50]
    mask = coco.annToMask(anns[1])
    assert mask.shape == (80, 100)
    assert mask[40, 40] == 1 and mask[5, 5] == 0


def test_yolo_segmentation_polygons_are_normalized_and_read_by_supervision(tmp_path: Path) -> None:
    images = segmentation_images()
    _write(images, ExportFormat.YOLO, tmp_path)
    line = (tmp_path / "train" / "labels" / "s2.txt").read_text().split()
    assert line[0] == "1"
    points = np.array([float(v) for v in line[1:]]).reshape(-1, 2) * [100, 80]
    np.testing.assert_allclose(points, [(20, 20), (60, 20), (40, 70)], atol=1e-3)
    ds = sv.DetectionDataset.from_yolo(
        str(tmp_path / "train" / "images"),
        str(tmp_path / "train" / "labels"),
        str(tmp_path / "data.yaml"),
    )
    boxes = _sv_boxes(ds)
    np.testing.assert_allclose(boxes["s1.jpg"][0][1], (10, 10, 110, 60), atol=0.01)


def test_keypoints_in_coco_and_yolo_pose(tmp_path: Path) -> None:
    images = keypoint_images()
    dataset = dataset_from_images(images, keypoint_names=("nose", "neck", "tail"))
    doc = coco_json(dataset)
    assert doc["categories"][0]["keypoints"] == ["nose", "neck", "tail"]
    ann = doc["annotations"][0]
    assert ann["keypoints"] == [30, 20, 2, 60, 50, 1, 0, 0, 0]
    assert ann["num_keypoints"] == 2
    text = yolo_label_text(dataset, images[0]).split()
    values = [float(v) for v in text[1:]]
    np.testing.assert_allclose(values[:4], [0.35, 0.5, 0.5, 0.8], atol=1e-6)
    np.testing.assert_allclose(values[4:], [0.15, 0.2, 2, 0.3, 0.5, 1, 0, 0, 0], atol=1e-6)
    _write(images, ExportFormat.YOLO, tmp_path)
    assert "kpt_shape: [3, 3]" in (tmp_path / "data.yaml").read_text()
    ds = sv.DetectionDataset.from_yolo(
        str(tmp_path / "train" / "images"),
        str(tmp_path / "train" / "labels"),
        str(tmp_path / "data.yaml"),
    )
    np.testing.assert_allclose(_sv_boxes(ds)["k1.jpg"][0][1], (20, 10, 120, 90), atol=0.01)


def test_keypoint_objects_with_fewer_points_are_padded_to_the_skeleton() -> None:
    img = ExportImage("k.jpg", 100, 100, (KeypointObject(Box("p", 0, 0, 10, 10), ((5, 5, 2),)),))
    dataset = dataset_from_images([img], keypoint_names=("a", "b"))
    assert len(yolo_label_text(dataset, img).split()) == 1 + 4 + 6


def test_classification_folders_hold_each_label(tmp_path: Path) -> None:
    _write(classification_images(), ExportFormat.FOLDERS, tmp_path)
    found = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jpg"))
    assert found == ["train/cat/x1.jpg", "valid/cat/x2.jpg", "valid/dog/x2.jpg"]


def test_folder_names_cannot_escape_the_export(tmp_path: Path) -> None:
    from winnow.platform.export import ClassLabel

    images = [ExportImage("x.jpg", 10, 10, (ClassLabel("../evil"),))]
    _write(images, ExportFormat.FOLDERS, tmp_path / "out")
    assert [
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg")
    ] == ["train/.._evil/x.jpg"]


def test_unknown_class_is_a_bad_request() -> None:
    dataset = dataset_from_images([], classes=["cat"])
    img = ExportImage("q.jpg", 10, 10, (Box("dog", 0, 0, 1, 1),))
    with pytest.raises(BadRequestError, match="dog"):
        yolo_label_text(dataset, img)


def test_dataset_keeps_project_class_order_and_appends_unknown_sorted() -> None:
    images = [
        ExportImage(
            "a.jpg", 1, 1, (Box("zebra", 0, 0, 1, 1), Polygon("ant", ((0, 0), (1, 0), (1, 1))))
        )
    ]
    dataset = dataset_from_images(images, classes=["dog", "cat"])
    assert dataset.classes == ("dog", "cat", "ant", "zebra")
    doc = coco_json(dataset)
    assert json.loads(json.dumps(doc))["annotations"][0]["category_id"] == 4

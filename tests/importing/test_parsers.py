"""The parsers are pure functions of the files and an image probe: layouts, and errors naming the entry."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from winnow.errors import BadRequestError
from winnow.platform.export import Box, ClassLabel, ExportImage, KeypointObject, Polygon, Split
from winnow.platform.importing.bodies import annotation_body
from winnow.platform.importing.coco import parse_coco
from winnow.platform.importing.folders import parse_folders
from winnow.platform.importing.layout import ImageInfo
from winnow.platform.importing.voc import parse_voc
from winnow.platform.importing.yolo import parse_yolo


class Files:
    """An in-memory dataset: path -> bytes. Images are b'img:W:H:tag'."""

    def __init__(self, files: dict[str, bytes | str]) -> None:
        self.files = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}

    def paths(self) -> list[str]:
        return sorted(self.files)

    def read(self, path: str) -> bytes:
        return self.files[path]


def img(width: int, height: int, tag: str = "") -> bytes:
    return f"img:{width}:{height}:{tag}".encode()


def probe_of(files: Files) -> Any:
    def probe(path: str) -> ImageInfo:
        _, w, h, tag = files.read(path).decode().split(":")
        return ImageInfo(int(w), int(h), f"{w}x{h}{tag}")

    return probe


def raises(message: str) -> Any:
    """pytest.raises for a BadRequestError whose message contains ``message``."""
    return pytest.raises(BadRequestError, match=re.escape(message))


def parse(parser: Any, files: dict[str, bytes | str]) -> Any:
    f = Files(files)
    return parser(f, probe_of(f))


def test_yolo_ultralytics_layout_with_names_mapping() -> None:
    ds = parse(
        parse_yolo,
        {
            "data.yaml": "names:\n  0: person\n  1: car\n",
            "images/train/a.jpg": img(100, 50),
            "labels/train/a.txt": "1 0.5 0.5 0.2 0.4\n\n0 0.1 0.2 0.3 0.2 0.2 0.4\n",
            "images/val/b.jpg": img(10, 10, "b"),
        },
    )
    assert ds.classes == ("person", "car")
    a, b = sorted(ds.images, key=lambda i: i.file_name)
    assert (a.split, b.split) == (Split.TRAIN, Split.VALID)
    assert a.annotations[0] == pytest.approx(Box("car", 40, 15, 60, 35))
    polygon = a.annotations[1]
    assert isinstance(polygon, Polygon)
    np.testing.assert_allclose(polygon.points, [(10, 10), (30, 10), (20, 20)])
    assert b.annotations == ()


def test_yolo_pose_with_two_values_per_keypoint() -> None:
    ds = parse(
        parse_yolo,
        {
            "data.yaml": "names: [hand]\nkpt_shape: [2, 2]\n",
            "train/images/a.jpg": img(100, 100),
            "train/labels/a.txt": "0 0.5 0.5 0.5 0.5 0.1 0.2 0.3 0.4\n",
        },
    )
    obj = ds.images[0].annotations[0]
    assert isinstance(obj, KeypointObject)
    np.testing.assert_allclose(obj.points, [(10, 20, 2), (30, 40, 2)])
    assert ds.keypoint_names == ("0", "1")


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("3 0.5 0.5 0.1 0.1", "train/labels/a.txt line 2: class 3 is not in data.yaml names (0-1)"),
        ("x 0.5 0.5 0.1 0.1", "train/labels/a.txt line 2: class 'x' is not an integer"),
        ("0 0.5 0.5 0.1", "train/labels/a.txt line 2: expected 'cls cx cy w h'"),
        ("0 0.5 nan 0.1 0.1", "train/labels/a.txt line 2: must be a finite number"),
    ],
)
def test_yolo_bad_lines_name_file_and_line(label: str, message: str) -> None:
    with raises(message):
        parse(
            parse_yolo,
            {
                "data.yaml": "names: [a, b]\n",
                "train/images/a.jpg": img(10, 10),
                "train/labels/a.txt": f"0 0.5 0.5 0.1 0.1\n{label}\n",
            },
        )


def test_yolo_needs_names() -> None:
    with raises("data.yaml: names: must list the class names"):
        parse(parse_yolo, {"data.yaml": "nc: 2\n", "train/images/a.jpg": img(1, 1)})
    with raises("yolo: the dataset needs a data.yaml"):
        parse(parse_yolo, {"train/images/a.jpg": img(1, 1)})


def _voc(
    filename: str, body: str, size: str = "<size><width>20</width><height>10</height></size>"
) -> str:
    return f"<annotation><filename>{filename}</filename>{size}{body}</annotation>"


def test_voc_devkit_layout_and_one_based_pixels() -> None:
    box = "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>8</ymax></bndbox></object>"
    ds = parse(
        parse_voc,
        {"VOC/Annotations/x.xml": _voc("x.jpg", box), "VOC/JPEGImages/x.jpg": img(20, 10)},
    )
    assert ds.images[0].source == "VOC/JPEGImages/x.jpg"
    assert ds.images[0].annotations == (Box("dog", 0, 1, 10, 8),)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            _voc("x.jpg", "<object><name>dog</name></object>"),
            "a/x.xml: object 1 (dog): <bndbox> is missing",
        ),
        (_voc("y.jpg", ""), "a/x.xml: image 'y.jpg' is not in the dataset"),
        ("<annotation><filename>x.jpg", "a/x.xml: not valid XML"),
        (
            _voc("x.jpg", "", "<size><width>99</width><height>10</height></size>"),
            "declared 99x10 but the image file is 20x10",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "lol">]><annotation>&e;</annotation>',
            "a/x.xml: not valid XML",
        ),
    ],
)
def test_voc_errors_name_file_and_object(xml: str, message: str) -> None:
    with raises(message):
        parse(parse_voc, {"a/x.xml": xml, "a/x.jpg": img(20, 10)})


def _coco(**doc: Any) -> str:
    base: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    return json.dumps({**base, **doc})


def test_coco_original_layout_rings_and_the_roboflow_parent_category() -> None:
    doc = _coco(
        images=[{"id": 4, "file_name": "p.jpg", "width": 50, "height": 40}],
        categories=[
            {"id": 0, "name": "things", "supercategory": "none"},
            {"id": 1, "name": "leaf", "supercategory": "things"},
        ],
        annotations=[
            {
                "id": 1,
                "image_id": 4,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "segmentation": [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]],
            }
        ],
    )
    ds = parse(
        parse_coco, {"annotations/instances_val2017.json": doc, "val2017/p.jpg": img(50, 40)}
    )
    assert ds.classes == ("leaf",)
    image = ds.images[0]
    assert image.split == Split.VALID and image.source == "val2017/p.jpg"
    assert [type(a) for a in image.annotations] == [Polygon, Polygon]


@pytest.mark.parametrize(
    ("ann", "message"),
    [
        (
            {"segmentation": {"counts": "x", "size": [1, 1]}},
            "annotation id 9.segmentation: RLE masks are not supported",
        ),
        ({"keypoints": [1, 2]}, "annotation id 9.keypoints: must be x, y, v triples"),
        ({"keypoints": [1, 2, 7]}, "annotation id 9.keypoints: visibility must be 0, 1 or 2"),
        ({"bbox": [1, 2, 3]}, "annotation id 9.bbox: must be [x, y, width, height]"),
    ],
)
def test_coco_bad_annotations_are_named(ann: dict[str, Any], message: str) -> None:
    item = {"id": 9, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], **ann}
    doc = _coco(
        images=[{"id": 1, "file_name": "a.jpg"}],
        categories=[{"id": 1, "name": "x"}],
        annotations=[item],
    )
    with raises(message):
        parse(parse_coco, {"train/_annotations.coco.json": doc, "train/a.jpg": img(5, 5)})


def test_coco_unknown_file_and_bad_json() -> None:
    doc = _coco(images=[{"id": 1, "file_name": "gone.jpg"}])
    with raises("c.json: image 'gone.jpg': no such image file"):
        parse(parse_coco, {"c.json": doc})
    with raises("c.json: not valid JSON"):
        parse(parse_coco, {"c.json": "{"})


def test_folders_same_bytes_in_two_class_folders_is_one_multi_label_image() -> None:
    ds = parse(
        parse_folders,
        {
            "ds/train/cat/1.jpg": img(5, 5, "a"),
            "ds/train/dog/1.jpg": img(5, 5, "a"),
            "ds/train/dog/2.jpg": img(5, 5, "b"),
            "ds/test/dog/1.jpg": img(5, 5, "c"),
        },
    )
    labels = sorted((i.split.value, [a.class_name for a in i.annotations]) for i in ds.images)
    assert labels == [("test", ["dog"]), ("train", ["cat", "dog"]), ("train", ["dog"])]
    assert ds.classes == ("cat", "dog")


def test_bodies_fit_the_project_type_or_say_why_not() -> None:
    multi = ExportImage("1.jpg", 5, 5, (ClassLabel("cat"), ClassLabel("dog")), source="t/cat/1.jpg")
    with raises("t/cat/1.jpg: is labeled cat, dog; a classification"):
        annotation_body("classification", multi, ["cat", "dog"])
    assert annotation_body("multi-label-classification", multi, []) == (
        "annotation.txt",
        "cat\ndog",
    )
    boxed = ExportImage("b.jpg", 20, 10, (Box("car", 2, 2, 6, 4),), source="b.jpg")
    _name, body = annotation_body("instance-segmentation", boxed, ["car"])
    points = json.loads(body)["predictions"][0]["points"]
    assert [(p["x"], p["y"]) for p in points] == [(2, 2), (6, 2), (6, 4), (2, 4)]
    with raises("b.jpg: a classification project takes class labels"):
        annotation_body("classification", boxed, [])


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "names: [a]\nkpt_shape: [100000000, 3]\n",
            "data.yaml: kpt_shape: must be [number of keypoints (1-1000), 2 or 3]",
        ),
        (
            "a: &a [x, x]\nb: &b [*a, *a]\nnames: [*b, *b]\n",
            "data.yaml: names: each class name must be a string",
        ),
        ("names: [a\n", "data.yaml: not valid YAML"),
    ],
)
def test_yolo_data_yaml_that_would_blow_up_is_refused(yaml_text: str, message: str) -> None:
    with raises(message):
        parse(parse_yolo, {"data.yaml": yaml_text, "train/images/a.jpg": img(1, 1)})

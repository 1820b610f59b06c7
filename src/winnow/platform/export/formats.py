"""Export formats: pure functions from an :class:`ExportDataset` to dataset files.

Each ``*_files`` function returns the files of one format as
:class:`DatasetFile` entries: annotation files carry their bytes, image files
carry the ``source`` key their bytes are read by (so a zip can be streamed
without holding every image in memory). Layouts follow what the ecosystem's
readers expect:

- ``coco``: ``<split>/_annotations.coco.json`` next to the split's images
  (category ids are 1-based: class id + 1; keypoints when present);
- ``yolo``: Ultralytics layout, ``data.yaml`` plus ``<split>/images`` and
  ``<split>/labels``; boxes ``cls cx cy w h``, polygons ``cls x1 y1 ...``,
  pose ``cls cx cy w h x y v ...``, all normalized to 0..1;
- ``voc``: ``<split>/<name>.xml`` (Pascal VOC) next to ``<split>/<name>.jpg``;
- ``folders``: classification folders ``<split>/<class>/<name>.jpg``.

Each image's identity (``source``, ``source_info``, ``tags``, ``metadata``:
:func:`winnow.platform.export.model.image_extra`) is COCO's ``images[].extra``;
the other formats carry it in ``metadata.jsonl`` at the dataset's root, one
JSON object per image file: ``{"file_name": "<path from the root>", ...}``
(the layout of Hugging Face's ``imagefolder`` metadata file), written only
when an image has any.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any
from xml.sax.saxutils import escape

from winnow.platform.export.model import (
    Box,
    ClassLabel,
    ExportDataset,
    ExportImage,
    KeypointObject,
    Polygon,
    Split,
    bounding_box,
)


class ExportFormat(StrEnum):
    """The formats winnow exports."""

    COCO = "coco"
    YOLO = "yolo"
    VOC = "voc"
    FOLDERS = "folders"


@dataclass(frozen=True, slots=True)
class DatasetFile:
    """One file of an export: ``content`` for annotation files, ``source`` for images."""

    path: str
    content: bytes | None = None
    source: str | None = None


def _splits(dataset: ExportDataset) -> list[Split]:
    present = {img.split for img in dataset.images}
    return [s for s in Split if s in present]


def _image_file(path: str, image: ExportImage) -> DatasetFile:
    return DatasetFile(path=path, source=image.source or image.file_name)


def _r(value: float) -> float:
    return round(float(value), 3)


# --------------------------------------------------------------------------- COCO


def coco_json(dataset: ExportDataset, split: Split | None = None) -> dict[str, Any]:
    """The COCO document of one split (or of every image when ``split`` is None)."""
    categories: list[dict[str, Any]] = []
    for i, name in enumerate(dataset.classes):
        category: dict[str, Any] = {"id": i + 1, "name": name, "supercategory": "none"}
        if dataset.keypoint_names:
            category["keypoints"] = list(dataset.keypoint_names)
            category["skeleton"] = []
        categories.append(category)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    selected = [img for img in dataset.images if split is None or img.split == split]
    for image_id, img in enumerate(selected, start=1):
        entry: dict[str, Any] = {
            "id": image_id,
            "file_name": img.file_name,
            "width": img.width,
            "height": img.height,
        }
        if img.extra:
            entry["extra"] = img.extra
        images.append(entry)
        for ann in img.annotations:
            if isinstance(ann, ClassLabel):
                continue
            box = bounding_box(ann)
            w, h = box.x2 - box.x1, box.y2 - box.y1
            item: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": dataset.class_id(ann.class_name) + 1,
                "bbox": [_r(box.x1), _r(box.y1), _r(w), _r(h)],
                "area": _r(w * h),
                "iscrowd": 0,
                "segmentation": [],
            }
            if isinstance(ann, Polygon):
                item["segmentation"] = [[_r(v) for p in ann.points for v in p]]
                item["area"] = _r(ann.area())
            if isinstance(ann, KeypointObject):
                flat: list[float] = []
                for x, y, v in ann.points:
                    flat += [_r(x), _r(y), int(v)]
                item["keypoints"] = flat
                item["num_keypoints"] = sum(1 for p in ann.points if p[2] > 0)
            annotations.append(item)
    return {
        "info": {"description": "exported by winnow"},
        "licenses": [],
        "categories": categories,
        "images": images,
        "annotations": annotations,
    }


def coco_files(dataset: ExportDataset) -> list[DatasetFile]:
    """COCO JSON per split, in Roboflow's layout (annotations next to images)."""
    files: list[DatasetFile] = []
    for split in _splits(dataset):
        doc = coco_json(dataset, split)
        files.append(
            DatasetFile(f"{split}/_annotations.coco.json", json.dumps(doc, indent=1).encode())
        )
        files += [
            _image_file(f"{split}/{img.file_name}", img)
            for img in dataset.images
            if img.split == split
        ]
    return files


# --------------------------------------------------------------------------- YOLO


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _yolo_line(
    dataset: ExportDataset, img: ExportImage, ann: Box | Polygon | KeypointObject
) -> str:
    cls = dataset.class_id(ann.class_name)
    w, h = float(img.width), float(img.height)
    if isinstance(ann, Polygon):
        coords = " ".join(f"{_clip01(x / w):.6f} {_clip01(y / h):.6f}" for x, y in ann.points)
        return f"{cls} {coords}"
    box = bounding_box(ann)
    cx, cy = (box.x1 + box.x2) / 2 / w, (box.y1 + box.y2) / 2 / h
    bw, bh = (box.x2 - box.x1) / w, (box.y2 - box.y1) / h
    line = f"{cls} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}"
    if isinstance(ann, KeypointObject):
        width = len(dataset.keypoint_names)
        points = list(ann.points) + [(0.0, 0.0, 0)] * (width - len(ann.points))
        line += "".join(
            f" {_clip01(x / w) if v else 0.0:.6f} {_clip01(y / h) if v else 0.0:.6f} {int(v)}"
            for x, y, v in points
        )
    return line


def yolo_data_yaml(dataset: ExportDataset) -> str:
    """The Ultralytics ``data.yaml`` (JSON-quoted strings are valid YAML)."""
    present = set(_splits(dataset))
    lines = []
    for key, split in (("train", Split.TRAIN), ("val", Split.VALID), ("test", Split.TEST)):
        if split in present or key != "test":
            lines.append(f"{key}: {json.dumps(f'../{split}/images')}")
    lines.append(f"nc: {len(dataset.classes)}")
    lines.append(f"names: {json.dumps(list(dataset.classes))}")
    if dataset.keypoint_names:
        lines.append(f"kpt_shape: [{len(dataset.keypoint_names)}, 3]")
        lines.append(f"kpt_names: {json.dumps(list(dataset.keypoint_names))}")
    return "\n".join(lines) + "\n"


def yolo_label_text(dataset: ExportDataset, img: ExportImage) -> str:
    """The label file of one image: one line per object, normalized coordinates."""
    lines = [
        _yolo_line(dataset, img, ann) for ann in img.annotations if not isinstance(ann, ClassLabel)
    ]
    return "".join(line + "\n" for line in lines)


def yolo_files(dataset: ExportDataset) -> list[DatasetFile]:
    """Ultralytics dataset: ``data.yaml``, ``<split>/images/*``, ``<split>/labels/*.txt``."""
    files = [DatasetFile("data.yaml", yolo_data_yaml(dataset).encode())]
    for img in dataset.images:
        stem = PurePosixPath(img.file_name).stem
        files.append(_image_file(f"{img.split}/images/{img.file_name}", img))
        files.append(
            DatasetFile(f"{img.split}/labels/{stem}.txt", yolo_label_text(dataset, img).encode())
        )
    return files


# --------------------------------------------------------------------------- Pascal VOC


def voc_xml(img: ExportImage, folder: str = "") -> str:
    """The Pascal VOC XML of one image (boxes; polygons and keypoint objects by their box).

    VOC pixel coordinates are 1-based: ``xmin``/``ymin`` are the box's ``x1 + 1``/``y1 + 1``,
    ``xmax``/``ymax`` its ``x2``/``y2`` (what supervision and the VOC devkit read).
    """
    objects = []
    for ann in img.annotations:
        if isinstance(ann, ClassLabel):
            continue
        box = bounding_box(ann)
        objects.append(
            "  <object>\n"
            f"    <name>{escape(ann.class_name)}</name>\n"
            "    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n"
            "    <difficult>0</difficult>\n    <occluded>0</occluded>\n"
            "    <bndbox>\n"
            f"      <xmin>{_r(box.x1 + 1)}</xmin>\n      <xmax>{_r(box.x2)}</xmax>\n"
            f"      <ymin>{_r(box.y1 + 1)}</ymin>\n      <ymax>{_r(box.y2)}</ymax>\n"
            "    </bndbox>\n  </object>\n"
        )
    return (
        "<annotation>\n"
        f"  <folder>{escape(folder)}</folder>\n"
        f"  <filename>{escape(img.file_name)}</filename>\n"
        f"  <path>{escape(img.file_name)}</path>\n"
        "  <source><database>winnow</database></source>\n"
        f"  <size><width>{img.width}</width><height>{img.height}</height><depth>3</depth></size>\n"
        "  <segmented>0</segmented>\n" + "".join(objects) + "</annotation>\n"
    )


def voc_files(dataset: ExportDataset) -> list[DatasetFile]:
    """Pascal VOC: ``<split>/<name>.jpg`` with ``<split>/<name>.xml`` beside it."""
    files: list[DatasetFile] = []
    for img in dataset.images:
        stem = PurePosixPath(img.file_name).stem
        files.append(_image_file(f"{img.split}/{img.file_name}", img))
        files.append(DatasetFile(f"{img.split}/{stem}.xml", voc_xml(img, str(img.split)).encode()))
    return files


# --------------------------------------------------------------------------- folders


def _safe_dir(name: str) -> str:
    """A class name usable as one path segment (no separators, no dot-dot)."""
    cleaned = name.replace("/", "_").replace("\\", "_").strip()
    return "_" if cleaned in {"", ".", ".."} else cleaned


def folder_files(dataset: ExportDataset) -> list[DatasetFile]:
    """Classification folders ``<split>/<class>/<name>.jpg``; multi-label images go in each class."""
    files: list[DatasetFile] = []
    for img in dataset.images:
        names = sorted({a.class_name for a in img.annotations if isinstance(a, ClassLabel)})
        files += [
            _image_file(f"{img.split}/{_safe_dir(name)}/{img.file_name}", img) for name in names
        ]
    return files


# --------------------------------------------------------------------------- sidecar

SIDECAR = "metadata.jsonl"
"""The sidecar of the formats without a place for an image's identity (not COCO)."""


def sidecar_file(files: list[DatasetFile], dataset: ExportDataset) -> DatasetFile | None:
    """``metadata.jsonl``: one line per image file of ``files`` whose image has ``extra``."""
    by_source = {img.source or img.file_name: img for img in dataset.images}
    lines = []
    for item in files:
        img = by_source.get(item.source) if item.source is not None else None
        if img is not None and img.extra:
            lines.append(json.dumps({"file_name": item.path, **img.extra}))
    if not lines:
        return None
    return DatasetFile(SIDECAR, "".join(line + "\n" for line in lines).encode())


FORMATS: dict[ExportFormat, Callable[[ExportDataset], list[DatasetFile]]] = {
    ExportFormat.COCO: coco_files,
    ExportFormat.YOLO: yolo_files,
    ExportFormat.VOC: voc_files,
    ExportFormat.FOLDERS: folder_files,
}


def export_files(dataset: ExportDataset, fmt: ExportFormat) -> list[DatasetFile]:
    """The files of ``dataset`` in format ``fmt``, with ``metadata.jsonl`` beside all but COCO."""
    files = FORMATS[fmt](dataset)
    if fmt is not ExportFormat.COCO:
        sidecar = sidecar_file(files, dataset)
        if sidecar is not None:
            files.append(sidecar)
    return files

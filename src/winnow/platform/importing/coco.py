"""Read COCO detection, segmentation and keypoint JSON into an :class:`ExportDataset`.

Every ``.json`` file of the dataset is a COCO document: Roboflow's layout
(``<split>/_annotations.coco.json`` beside the images) and the original one
(``annotations/instances_val2017.json`` with ``val2017/*.jpg``) both work.
Images are looked up beside the JSON, then in a folder named like its split,
then by a unique file name anywhere. Boxes come from ``bbox``; a polygon
``segmentation`` gives one polygon per ring; ``keypoints`` give a keypoint
object with the category's ``keypoints`` names. RLE masks are refused (the
message names the annotation), as are unknown image or category ids. An
image's ``extra`` (winnow's export writes its source, tags and metadata
there) is kept for the import to check.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from winnow.errors import BadRequestError
from winnow.platform.export.model import (
    Annotation,
    Box,
    ExportDataset,
    ExportImage,
    KeypointObject,
    Polygon,
    dataset_from_images,
)
from winnow.platform.importing.files import DatasetFiles
from winnow.platform.importing.layout import ImageIndex, Probe, check_size, finite, split_from_name

MAX_JSON_BYTES = 2 * 1024**3


def _load(files: DatasetFiles, path: str) -> dict[str, Any]:
    try:
        doc = json.loads(files.read(path))
    except (ValueError, RecursionError) as exc:
        raise BadRequestError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadRequestError(f"{path}: a COCO file is a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key, []), list):
            raise BadRequestError(f"{path}: {key!r} must be a list")
    return doc


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"{where}: must be an integer, got {value!r}")
    return value


def _categories(path: str, doc: dict[str, Any]) -> tuple[dict[int, str], list[str]]:
    names: dict[int, str] = {}
    keypoint_names: list[str] = []
    for i, cat in enumerate(doc.get("categories", [])):
        where = f"{path}: categories[{i}]"
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str) or not cat["name"]:
            raise BadRequestError(f"{where}: needs an integer 'id' and a non-empty 'name'")
        names[_int(cat.get("id"), f"{where}.id")] = cat["name"]
        points = cat.get("keypoints")
        if isinstance(points, list) and len(points) > len(keypoint_names):
            keypoint_names = [str(p) for p in points]
    return names, keypoint_names


def _box(where: str, name: str, bbox: Any) -> Box:
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise BadRequestError(f"{where}.bbox: must be [x, y, width, height]")
    x, y, w, h = (finite(v, f"{where}.bbox") for v in bbox)
    if w < 0 or h < 0:
        raise BadRequestError(f"{where}.bbox: width and height must be >= 0")
    return Box(name, x, y, x + w, y + h)


def _keypoints(where: str, box: Box, keypoints: list[Any]) -> KeypointObject:
    if len(keypoints) % 3:
        raise BadRequestError(f"{where}.keypoints: must be x, y, v triples")
    values = [finite(v, f"{where}.keypoints") for v in keypoints]
    triples = []
    for j in range(0, len(values), 3):
        visible = int(values[j + 2])
        if visible not in (0, 1, 2):
            raise BadRequestError(f"{where}.keypoints: visibility must be 0, 1 or 2")
        triples.append((values[j], values[j + 1], visible))
    return KeypointObject(box, tuple(triples))


def _polygons(where: str, name: str, segmentation: Any) -> list[Annotation]:
    if isinstance(segmentation, dict):
        raise BadRequestError(
            f"{where}.segmentation: RLE masks are not supported; give polygons instead"
        )
    polygons: list[Annotation] = []
    for ring in segmentation if isinstance(segmentation, list) else ():
        if not isinstance(ring, list) or len(ring) % 2:
            raise BadRequestError(f"{where}.segmentation: each polygon is a flat x, y list")
        if len(ring) < 6:
            continue  # a degenerate ring (fewer than 3 points) outlines nothing
        coords = [finite(v, f"{where}.segmentation") for v in ring]
        points = tuple((coords[k], coords[k + 1]) for k in range(0, len(coords), 2))
        polygons.append(Polygon(name, points))
    return polygons


def _annotation(
    path: str, i: int, item: Any, categories: dict[int, str]
) -> tuple[int, list[Annotation]]:
    where = f"{path}: annotations[{i}]"
    if not isinstance(item, dict):
        raise BadRequestError(f"{where}: must be an object")
    if "id" in item:
        where = f"{path}: annotation id {item['id']!r}"
    image_id = _int(item.get("image_id"), f"{where}.image_id")
    category = _int(item.get("category_id"), f"{where}.category_id")
    if category not in categories:
        raise BadRequestError(f"{where}: category_id {category} is not in 'categories'")
    name = categories[category]
    box = _box(where, name, item.get("bbox"))
    keypoints = item.get("keypoints")
    if isinstance(keypoints, list) and keypoints:
        return image_id, [_keypoints(where, box, keypoints)]
    return image_id, _polygons(where, name, item.get("segmentation")) or [box]


def parse_document(
    files: DatasetFiles, path: str, index: ImageIndex, probe: Probe
) -> tuple[list[ExportImage], list[str], list[str]]:
    """The images, class names (by category id) and keypoint names of one COCO file."""
    doc = _load(files, path)
    categories, keypoint_names = _categories(path, doc)
    by_image: dict[int, list[Annotation]] = {}
    for i, item in enumerate(doc.get("annotations", [])):
        image_id, anns = _annotation(path, i, item, categories)
        by_image.setdefault(image_id, []).extend(anns)
    split = split_from_name(path)
    folder = str(PurePosixPath(path).parent).removeprefix(".")
    near = [folder, *(str(PurePosixPath(folder) / s) for s in ("images", split.value))]
    near += [f"{split.value}2017", f"images/{split.value}"]
    images: list[ExportImage] = []
    known: set[int] = set()
    for i, entry in enumerate(doc.get("images", [])):
        where = f"{path}: images[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            raise BadRequestError(f"{where}: needs an integer 'id' and a 'file_name'")
        image_id = _int(entry.get("id"), f"{where}.id")
        where = f"{path}: image {entry['file_name']!r}"
        found = index.find(entry["file_name"], near)
        if found is None:
            raise BadRequestError(f"{where}: no such image file in the dataset")
        info = probe(found)
        if "width" in entry or "height" in entry:
            size = (
                _int(entry.get("width"), f"{where}.width"),
                _int(entry.get("height"), f"{where}.height"),
            )
            check_size(where, size, info)
        known.add(image_id)
        images.append(
            ExportImage(
                file_name=PurePosixPath(found).name,
                width=info.width,
                height=info.height,
                annotations=tuple(by_image.get(image_id, ())),
                split=split,
                source=found,
                extra=entry.get("extra"),
            )
        )
    for image_id in by_image:
        if image_id not in known:
            raise BadRequestError(f"{path}: annotations name image_id {image_id}, not in 'images'")
    # Roboflow lists the dataset itself as an unused category, parent of the real ones
    parents = {c.get("supercategory") for c in doc.get("categories", []) if isinstance(c, dict)}
    used = {a.class_name for anns in by_image.values() for a in anns}
    names = [
        categories[k]
        for k in sorted(categories)
        if categories[k] in used or categories[k] not in parents
    ]
    return images, names, keypoint_names


def parse_coco(files: DatasetFiles, probe: Probe) -> ExportDataset:
    """Every COCO file of ``files`` as one dataset; classes in category-id order."""
    documents = [p for p in files.paths() if p.lower().endswith(".json")]
    if not documents:
        raise BadRequestError("coco: no .json annotation file in the dataset")
    index = ImageIndex(p for p in files.paths())
    images: list[ExportImage] = []
    classes: list[str] = []
    keypoint_names: list[str] = []
    for path in documents:
        found, names, points = parse_document(files, path, index, probe)
        images += found
        classes += [n for n in names if n not in classes]
        if len(points) > len(keypoint_names):
            keypoint_names = points
    return dataset_from_images(images, classes, keypoint_names)

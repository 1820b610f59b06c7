"""Read an Ultralytics YOLO dataset (detect, segment, pose) into an :class:`ExportDataset`.

``data.yaml`` (or the one ``.yaml`` file at the top) gives ``names`` (a list,
or a mapping of class id to name) and, for pose, ``kpt_shape: [K, 2|3]`` and
optionally ``kpt_names``. Images live in an ``images`` folder and each one's
labels in the same place under ``labels`` with a ``.txt`` extension; both the
Roboflow layout (``train/images``, ``train/labels``) and the Ultralytics one
(``images/train``, ``labels/train``) work. A label line is ``cls cx cy w h``
(detect), ``cls x1 y1 x2 y2 ...`` (segment, at least 3 points) or
``cls cx cy w h`` followed by K keypoints (pose), normalized to 0..1. An image
without a label file has no objects (a background image).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import yaml

from winnow.errors import BadRequestError
from winnow.platform.export.model import (
    Annotation,
    Box,
    ExportDataset,
    ExportImage,
    KeypointObject,
    Polygon,
    Split,
    dataset_from_images,
)
from winnow.platform.importing.files import DatasetFiles, is_image
from winnow.platform.importing.layout import ImageInfo, Probe, finite, split_of

MAX_KEYPOINTS = 1000


def _yaml_path(files: DatasetFiles) -> str:
    """The shallowest ``data.yaml``, else the only ``.yaml`` file of the shallowest level."""
    configs = [p for p in files.paths() if p.lower().endswith((".yaml", ".yml"))]
    if not configs:
        raise BadRequestError("yolo: the dataset needs a data.yaml (names of the classes)")
    depth = min(p.count("/") for p in configs)
    top = [p for p in configs if p.count("/") == depth]
    named = [p for p in top if PurePosixPath(p).name == "data.yaml"]
    if len(named) == 1:
        return named[0]
    if len(top) != 1:
        raise BadRequestError(f"yolo: several .yaml files ({', '.join(top)}); name one data.yaml")
    return top[0]


def _names(path: str, doc: dict[str, Any]) -> list[str]:
    names = doc.get("names")
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise BadRequestError(f"{path}: names: keys must be class ids") from None
        if ids != list(range(len(ids))):
            raise BadRequestError(f"{path}: names: class ids must be 0..{len(ids) - 1}")
        names = [names[k] if k in names else names[str(k)] for k in ids]
    if not isinstance(names, list) or not names:
        raise BadRequestError(f"{path}: names: must list the class names")
    if not all(isinstance(n, str | int | float) and not isinstance(n, bool) for n in names):
        raise BadRequestError(f"{path}: names: each class name must be a string")
    out = [str(n) for n in names]
    if any(not n.strip() for n in out) or len(set(out)) != len(out):
        raise BadRequestError(f"{path}: names: class names must be non-empty and distinct")
    return out


def _keypoint_shape(path: str, doc: dict[str, Any]) -> tuple[int, int] | None:
    shape = doc.get("kpt_shape")
    if shape is None:
        return None
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
        or not 1 <= shape[0] <= MAX_KEYPOINTS
        or shape[1] not in (2, 3)
    ):
        raise BadRequestError(
            f"{path}: kpt_shape: must be [number of keypoints (1-{MAX_KEYPOINTS}), 2 or 3]"
        )
    return shape[0], shape[1]


def _keypoint_names(doc: dict[str, Any], count: int) -> list[str]:
    names = doc.get("kpt_names")
    if isinstance(names, dict):  # Ultralytics: {class id: [names]}
        names = next(iter(names.values()), None)
    if isinstance(names, list) and len(names) == count:
        return [str(n) for n in names]
    return [str(i) for i in range(count)]


def label_path(image: str) -> str:
    """The label file of an image: its last ``images`` folder as ``labels``, extension ``.txt``."""
    parts = list(PurePosixPath(image).with_suffix(".txt").parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return "/".join(parts)


def parse_line(
    where: str,
    line: str,
    classes: list[str],
    info: ImageInfo,
    keypoints: tuple[int, int] | None,
) -> Annotation:
    """One label line as a box, polygon or keypoint object in pixels."""
    fields = line.split()
    try:
        cls = int(fields[0])
    except ValueError:
        raise BadRequestError(f"{where}: class {fields[0]!r} is not an integer") from None
    if not 0 <= cls < len(classes):
        raise BadRequestError(
            f"{where}: class {cls} is not in data.yaml names (0-{len(classes) - 1})"
        )
    values = [finite(v, where) for v in fields[1:]]
    name, w, h = classes[cls], float(info.width), float(info.height)
    if keypoints is not None:
        count, dim = keypoints
        if len(values) != 4 + count * dim:
            raise BadRequestError(
                f"{where}: a pose line holds class, box and {count}x{dim} keypoint values; "
                f"got {len(values) + 1} values"
            )
        box = _box(name, values[:4], w, h)
        points = []
        for k in range(count):
            chunk = values[4 + k * dim : 4 + (k + 1) * dim]
            visible = int(chunk[2]) if dim == 3 else 2
            if visible not in (0, 1, 2):
                raise BadRequestError(f"{where}: keypoint visibility must be 0, 1 or 2")
            points.append((chunk[0] * w, chunk[1] * h, visible))
        return KeypointObject(box, tuple(points))
    if len(values) == 4:
        return _box(name, values, w, h)
    if len(values) >= 6 and len(values) % 2 == 0:
        return Polygon(
            name, tuple((values[k] * w, values[k + 1] * h) for k in range(0, len(values), 2))
        )
    raise BadRequestError(
        f"{where}: expected 'cls cx cy w h' or a polygon 'cls x1 y1 x2 y2 x3 y3 ...'; "
        f"got {len(values) + 1} values"
    )


def _box(name: str, values: list[float], w: float, h: float) -> Box:
    cx, cy, bw, bh = values
    return Box(name, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)


def parse_yolo(files: DatasetFiles, probe: Probe) -> ExportDataset:
    """The images of every ``images`` folder with their label files' objects."""
    config = _yaml_path(files)
    try:
        doc = yaml.safe_load(files.read(config))
    except yaml.YAMLError as exc:
        raise BadRequestError(f"{config}: not valid YAML ({exc})") from None
    except RecursionError:
        raise BadRequestError(f"{config}: YAML nested too deeply") from None
    if not isinstance(doc, dict):
        raise BadRequestError(f"{config}: must be a YAML mapping with 'names'")
    classes = _names(config, doc)
    shape = _keypoint_shape(config, doc)
    paths = set(files.paths())
    images: list[ExportImage] = []
    for path in sorted(paths):
        if not is_image(path) or "images" not in PurePosixPath(path).parts[:-1]:
            continue
        info = probe(path)
        labels = label_path(path)
        annotations: list[Annotation] = []
        if labels in paths:
            text = files.read(labels).decode("utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    where = f"{labels} line {number}"
                    annotations.append(parse_line(where, line, classes, info, shape))
        images.append(
            ExportImage(
                file_name=PurePosixPath(path).name,
                width=info.width,
                height=info.height,
                annotations=tuple(annotations),
                split=split_of(path) or Split.TRAIN,
                source=path,
            )
        )
    if not images:
        raise BadRequestError("yolo: no image under an 'images' folder")
    keypoint_names = _keypoint_names(doc, shape[0]) if shape else []
    return dataset_from_images(images, classes, keypoint_names)

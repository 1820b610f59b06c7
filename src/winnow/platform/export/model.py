"""Plain rows an export is made of, and the deterministic train/valid/test split.

Every export format is a pure function of an :class:`ExportDataset`: a list of
:class:`ExportImage` (file name, size, split, typed annotations) plus the
project's ordered class names. Coordinates are pixels of the stored image,
``x1, y1`` the top-left corner, ``x2, y2`` the bottom-right corner.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from winnow.errors import BadRequestError


class Split(StrEnum):
    """The three parts of an exported dataset, named as Roboflow and Ultralytics name them."""

    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box of one class."""

    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """An instance-segmentation polygon of one class (at least 3 points)."""

    class_name: str
    points: tuple[tuple[float, float], ...]

    def box(self) -> Box:
        """The polygon's bounding box."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return Box(self.class_name, min(xs), min(ys), max(xs), max(ys))

    def area(self) -> float:
        """Area by the shoelace formula."""
        pts = self.points
        total = 0.0
        for i, (x, y) in enumerate(pts):
            nx, ny = pts[(i + 1) % len(pts)]
            total += x * ny - nx * y
        return abs(total) / 2


@dataclass(frozen=True, slots=True)
class KeypointObject:
    """A box with its keypoints; ``points`` are ``(x, y, visible)`` in skeleton order.

    ``visible`` follows COCO: 0 not labeled, 1 labeled but hidden, 2 visible.
    """

    box: Box
    points: tuple[tuple[float, float, int], ...]

    @property
    def class_name(self) -> str:
        """The class of the object (its box's class)."""
        return self.box.class_name


@dataclass(frozen=True, slots=True)
class ClassLabel:
    """An image-level class (classification; several for multi-label)."""

    class_name: str


Annotation = Box | Polygon | KeypointObject | ClassLabel


def bounding_box(ann: Box | Polygon | KeypointObject) -> Box:
    """The axis-aligned box of any spatial annotation (a polygon's extent, a pose's box)."""
    if isinstance(ann, Polygon):
        return ann.box()
    if isinstance(ann, KeypointObject):
        return ann.box
    return ann


EXTRA_KEYS: tuple[str, ...] = ("source", "source_info", "tags", "metadata")
"""Keys of an image's ``extra``: where it came from and what was attached to it."""


def image_extra(
    source: str | None,
    source_info: str | None,
    tags: Sequence[str],
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """An image's identity as exported (COCO ``images[].extra``, ``metadata.jsonl``).

    Keys in :data:`EXTRA_KEYS` order, each only when set: ``source`` (``http``,
    the client's ``source``, ``stream:<id>``, ``import``), ``source_info``,
    ``tags`` (a list) and ``metadata`` (the image's JSON object). None when
    nothing is set.
    """
    values: dict[str, Any] = {
        "source": source,
        "source_info": source_info,
        "tags": list(tags),
        "metadata": dict(metadata) if metadata else None,
    }
    extra = {key: value for key, value in values.items() if value}
    return extra or None


@dataclass(frozen=True, slots=True)
class ExportImage:
    """One image of an export. ``source`` is the key its bytes are read by (blob key).

    ``extra`` is the image's identity (:func:`image_extra`), None when it has none.
    """

    file_name: str
    width: int
    height: int
    annotations: tuple[Annotation, ...] = ()
    split: Split = Split.TRAIN
    source: str = ""
    extra: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class ExportDataset:
    """Images and the ordered class list (class id = index) of one export."""

    classes: tuple[str, ...]
    images: tuple[ExportImage, ...]
    keypoint_names: tuple[str, ...] = field(default=())

    def class_id(self, name: str) -> int:
        """The 0-based id of a class; unknown names raise :class:`BadRequestError`."""
        try:
            return self.classes.index(name)
        except ValueError:
            raise BadRequestError(f"class {name!r} is not one of the export's classes") from None


def dataset_from_images(
    images: Sequence[ExportImage],
    classes: Sequence[str] = (),
    keypoint_names: Sequence[str] = (),
) -> ExportDataset:
    """Build a dataset; classes used by annotations but missing from ``classes`` are appended sorted."""
    known = list(classes)
    used = sorted({a.class_name for img in images for a in img.annotations} - set(known))
    width = max(
        (len(a.points) for img in images for a in img.annotations if isinstance(a, KeypointObject)),
        default=0,
    )
    if width == 0:
        return ExportDataset(tuple(known + used), tuple(images), ())
    # the skeleton is the project's keypoint names, extended when an object has more points
    names = list(keypoint_names) + [str(i) for i in range(len(keypoint_names), width)]
    return ExportDataset(tuple(known + used), tuple(images), tuple(names))


def parse_split(text: str) -> tuple[float, float, float]:
    """Parse ``"0.8,0.1,0.1"`` (fractions or percentages) into three fractions summing to 1."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise BadRequestError(f"split must be three numbers train,valid,test; got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise BadRequestError(
            f"split must be three numbers train,valid,test; got {text!r}"
        ) from None
    total = sum(values)
    # nan/inf (and a sum overflowing to inf) would make NaN ratios, and int(NaN) raises.
    if any(v < 0 for v in values) or not 0 < total < math.inf:
        raise BadRequestError(
            f"split values must be finite, >= 0 and with a positive sum; got {text!r}"
        )
    return (values[0] / total, values[1] / total, values[2] / total)


def assign_splits(
    images: Sequence[ExportImage], ratios: tuple[float, float, float], seed: int
) -> list[ExportImage]:
    """Give each image a split: same images, ratios and seed always give the same split.

    Images are ordered by file name, shuffled with ``seed``, then cut by the
    ratios (counts rounded, the test part takes the remainder). The returned
    list keeps the input order.
    """
    order = sorted(range(len(images)), key=lambda i: images[i].file_name)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_train = round(n * ratios[0])
    n_valid = min(n - n_train, round(n * ratios[1]))
    result = list(images)
    for rank, index in enumerate(order):
        split = (
            Split.TRAIN
            if rank < n_train
            else Split.VALID
            if rank < n_train + n_valid
            else Split.TEST
        )
        result[index] = replace(images[index], split=split)
    return result


def assign_held_out_splits(
    images: Sequence[ExportImage],
    held_out: Set[str],
    ratios: tuple[float, float, float],
    seed: int,
) -> list[ExportImage]:
    """Like :func:`assign_splits`, but images named in ``held_out`` always go to the test split.

    Held-out images (those of a batch marked as a held-out evaluation set) are
    never in the training or validation split, whatever the ratios; the other
    images are split among themselves by :func:`assign_splits`. Input order is kept.
    """
    if not held_out:
        return assign_splits(images, ratios, seed)
    rest = [img for img in images if img.file_name not in held_out]
    split_rest = iter(assign_splits(rest, ratios, seed))
    return [
        replace(img, split=Split.TEST) if img.file_name in held_out else next(split_rest)
        for img in images
    ]

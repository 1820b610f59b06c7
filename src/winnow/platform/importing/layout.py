"""What every parser shares: the image probe, split names in paths, finding an image by name.

A parser is a pure function of a :class:`~winnow.platform.importing.files.DatasetFiles`
and a :data:`Probe` (which decodes an image and says its size and hash); it
returns an :class:`~winnow.platform.export.model.ExportDataset` whose images'
``source`` is the path of the image file in the dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from winnow.errors import BadRequestError
from winnow.platform.export.model import Split


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image file that decoded fine: its size (after EXIF orientation) and sha256."""

    width: int
    height: int
    sha256: str


Probe = Callable[[str], ImageInfo]
"""Decode the image at a dataset path; BadRequestError naming the path when it is not one."""

SPLIT_NAMES = {
    "train": Split.TRAIN,
    "valid": Split.VALID,
    "val": Split.VALID,
    "validation": Split.VALID,
    "test": Split.TEST,
}


def parse_split_name(text: str) -> Split:
    """``train``, ``valid`` (or ``val``, ``validation``) or ``test``; BadRequestError otherwise."""
    try:
        return SPLIT_NAMES[text.strip().lower()]
    except KeyError:
        raise BadRequestError(f"split: must be train, valid or test; got {text!r}") from None


def split_of(path: str) -> Split | None:
    """The split named by a folder of ``path`` (``train/``, ``images/val/``...), if any."""
    for part in PurePosixPath(path).parts[:-1]:
        split = SPLIT_NAMES.get(part.lower())
        if split is not None:
            return split
    return None


def split_from_name(path: str) -> Split:
    """The split of an annotation file: a split folder, else its name (``instances_val2017``)."""
    found = split_of(path)
    if found is not None:
        return found
    stem = PurePosixPath(path).stem.lower()
    for word, split in (("train", Split.TRAIN), ("val", Split.VALID), ("test", Split.TEST)):
        if word in stem:
            return split
    return Split.TRAIN


class ImageIndex:
    """Find the image a label file names: beside it, under a folder, or by a unique file name."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._paths = set(paths)
        self._by_name: dict[str, list[str]] = {}
        for path in sorted(self._paths):
            self._by_name.setdefault(PurePosixPath(path).name, []).append(path)

    def find(self, name: str, near: Iterable[str]) -> str | None:
        """The dataset path of image ``name``, trying each folder in ``near`` first."""
        clean = name.replace("\\", "/").lstrip("./")
        for folder in near:
            candidate = str(PurePosixPath(folder) / clean) if folder else clean
            if candidate in self._paths:
                return candidate
        if clean in self._paths:
            return clean
        same = self._by_name.get(PurePosixPath(clean).name, [])
        return same[0] if len(same) == 1 else None


def finite(value: object, where: str) -> float:
    """``value`` as a finite float; BadRequestError naming ``where`` otherwise."""
    if isinstance(value, bool):
        raise BadRequestError(f"{where}: must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]  # anything else raises below
    except (TypeError, ValueError):
        raise BadRequestError(f"{where}: must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise BadRequestError(f"{where}: must be a finite number, got {value!r}")
    return number


def check_size(where: str, declared: tuple[int, int], info: ImageInfo) -> None:
    """Refuse labels drawn on an image of another size than the file's."""
    if declared != (info.width, info.height):
        raise BadRequestError(
            f"{where}: declared {declared[0]}x{declared[1]} but the image file is "
            f"{info.width}x{info.height}"
        )

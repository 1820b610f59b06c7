"""An imported image's identity: COCO ``images[].extra`` or the ``metadata.jsonl`` sidecar.

What an export writes (:func:`winnow.platform.export.model.image_extra`) an
import reads back: ``source``, ``source_info``, ``tags`` and ``metadata`` of
each image. COCO carries them in ``images[].extra``; every format may have a
``metadata.jsonl`` (the shallowest one in the dataset), one JSON object per
line with ``file_name`` relative to that file's folder. A sidecar line fills
in what a COCO ``extra`` leaves out. Unknown keys are ignored; a known key of
the wrong kind stops the import with a message naming the file and entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from winnow.errors import BadRequestError
from winnow.platform.export.formats import SIDECAR
from winnow.platform.export.model import ExportDataset, image_extra
from winnow.platform.importing.files import DatasetFiles
from winnow.platform.store.datapoints import check_tags, check_text

SOURCE_FOR_IMPORTS = "import"
"""The ``source`` of an imported image whose dataset names none."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The checked identity of one imported image."""

    source: str = SOURCE_FOR_IMPORTS
    source_info: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None


def _sidecar_path(files: DatasetFiles) -> str | None:
    found = [p for p in files.paths() if PurePosixPath(p).name == SIDECAR]
    return min(found, key=lambda p: (p.count("/"), p)) if found else None


def read_sidecar(files: DatasetFiles) -> dict[str, dict[str, Any]]:
    """The sidecar's lines by image path in the dataset ({} without a sidecar)."""
    path = _sidecar_path(files)
    if path is None:
        return {}
    folder = PurePosixPath(path).parent
    entries: dict[str, dict[str, Any]] = {}
    text = files.read(path).decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise BadRequestError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            raise BadRequestError(f"{where}: must be a JSON object with a 'file_name'")
        name = str(folder / entry["file_name"]) if str(folder) != "." else entry["file_name"]
        entries[name] = {k: v for k, v in entry.items() if k != "file_name"}
    return entries


def with_sidecar(dataset: ExportDataset, files: DatasetFiles) -> ExportDataset:
    """``dataset`` with each image's ``extra`` completed from the sidecar, if there is one."""
    entries = read_sidecar(files)
    if not entries:
        return dataset
    images = []
    for image in dataset.images:
        line = entries.get(image.source)
        if line is not None and isinstance(image.extra, dict | None):
            image = replace(image, extra={**line, **(image.extra or {})})
        images.append(image)
    return ExportDataset(dataset.classes, tuple(images), dataset.keypoint_names)


def check_identity(where: str, extra: Any) -> Identity:
    """The identity an ``extra`` object gives; BadRequestError ``<where>.extra.<key>: ...``."""
    if extra is None:
        return Identity()
    if not isinstance(extra, dict):
        raise BadRequestError(f"{where}.extra: must be a JSON object")
    source = check_text(f"{where}.extra.source", extra.get("source"), 128)
    source_info = check_text(f"{where}.extra.source_info", extra.get("source_info"), 256)
    tags = extra.get("tags") or []
    if not isinstance(tags, list):
        raise BadRequestError(f"{where}.extra.tags: must be a list of tags")
    checked_tags = check_tags(tags, f"{where}.extra.tags")
    metadata = extra.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise BadRequestError(f"{where}.extra.metadata: must be a JSON object")
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError):
            raise BadRequestError(f"{where}.extra.metadata: must hold JSON values only") from None
    return Identity(
        source=source or SOURCE_FOR_IMPORTS,
        source_info=source_info or None,
        tags=tuple(checked_tags),
        metadata=metadata or None,
    )


__all__ = ["Identity", "check_identity", "image_extra", "read_sidecar", "with_sidecar"]

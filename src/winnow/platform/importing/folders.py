"""Read classification folders (``<split>/<class>/<image>`` or ``<class>/<image>``).

An image's class is the folder it is in; its split the folder above that when
it is named train, valid (val) or test (any folders above are ignored, so a
zipped ``dataset/`` folder works). The same image (same bytes) in
several class folders of one split is one multi-label image with each of those
classes, which is how the exporter writes multi-label images. Classes are
sorted by name.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from winnow.errors import BadRequestError
from winnow.platform.export.model import (
    ClassLabel,
    ExportDataset,
    ExportImage,
    Split,
    dataset_from_images,
)
from winnow.platform.importing.files import DatasetFiles, is_image
from winnow.platform.importing.layout import SPLIT_NAMES, Probe


def parse_folders(files: DatasetFiles, probe: Probe) -> ExportDataset:
    """One image per distinct file (per split), labeled with every class folder holding it."""
    images = [p for p in files.paths() if is_image(p)]
    if not images:
        raise BadRequestError("folders: no image in the dataset")
    found: dict[tuple[Split, str], tuple[str, list[str]]] = {}
    for path in images:
        parts = PurePosixPath(path).parts
        if len(parts) < 2:
            raise BadRequestError(
                f"{path}: classification folders are <class>/<image> or <split>/<class>/<image>"
            )
        cls = parts[-2]
        split = SPLIT_NAMES.get(parts[-3].lower(), Split.TRAIN) if len(parts) > 2 else Split.TRAIN
        info = probe(path)
        source, labels = found.setdefault((split, info.sha256), (path, []))
        if cls not in labels:
            labels.append(cls)
    result: list[ExportImage] = []
    for (split, _sha), (source, labels) in found.items():
        info = probe(source)
        result.append(
            ExportImage(
                file_name=PurePosixPath(source).name,
                width=info.width,
                height=info.height,
                annotations=tuple(ClassLabel(c) for c in sorted(labels)),
                split=split,
                source=source,
            )
        )
    return dataset_from_images(result)

"""Read Pascal VOC XML annotations into an :class:`ExportDataset`.

Every ``.xml`` file is one image's annotation; its ``<filename>`` is looked up
beside the XML, then in a ``JPEGImages`` folder next to its ``Annotations``
folder (the VOC devkit layout), then by a unique file name. VOC pixel
coordinates are 1-based: a box's ``x1, y1`` are ``xmin - 1, ymin - 1`` and its
``x2, y2`` are ``xmax, ymax`` (the inverse of the exporter). XML is parsed
with ``defusedxml``, which refuses entity expansion (billion laughs).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from winnow.errors import BadRequestError
from winnow.platform.export.model import (
    Annotation,
    Box,
    ExportDataset,
    ExportImage,
    Split,
    dataset_from_images,
)
from winnow.platform.importing.files import DatasetFiles
from winnow.platform.importing.layout import ImageIndex, Probe, check_size, finite, split_of


def _text(element: Element, tag: str, where: str) -> str:
    found = element.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise BadRequestError(f"{where}: <{tag}> is missing")
    return found.text.strip()


def _size(root: Element, where: str) -> tuple[int, int] | None:
    size = root.find("size")
    if size is None:
        return None
    values = [
        finite(_text(size, tag, f"{where} <size>"), f"{where} <size><{tag}>")
        for tag in ("width", "height")
    ]
    return int(values[0]), int(values[1])


def parse_xml(path: str, data: bytes, index: ImageIndex, probe: Probe) -> ExportImage:
    """One VOC file's image and boxes."""
    try:
        root = fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise BadRequestError(f"{path}: not valid XML ({exc})") from None
    if root.tag != "annotation":
        raise BadRequestError(f"{path}: the root element must be <annotation>, not <{root.tag}>")
    name = _text(root, "filename", path)
    folder = PurePosixPath(path).parent
    near = [str(folder).removeprefix("."), str(folder.parent / "JPEGImages").removeprefix(".")]
    found = index.find(name, near)
    if found is None:
        raise BadRequestError(f"{path}: image {name!r} is not in the dataset")
    info = probe(found)
    declared = _size(root, path)
    if declared is not None and declared != (0, 0):
        check_size(f"{path}: <size>", declared, info)
    annotations: list[Annotation] = []
    for i, obj in enumerate(root.iter("object"), start=1):
        where = f"{path}: object {i}"
        cls = _text(obj, "name", where)
        box = obj.find("bndbox")
        if box is None:
            raise BadRequestError(f"{where} ({cls}): <bndbox> is missing")
        xmin, ymin, xmax, ymax = (
            finite(_text(box, tag, f"{where} <bndbox>"), f"{where} <{tag}>")
            for tag in ("xmin", "ymin", "xmax", "ymax")
        )
        if xmax < xmin - 1 or ymax < ymin - 1:
            raise BadRequestError(f"{where} ({cls}): xmax/ymax must not be below xmin/ymin")
        annotations.append(Box(cls, xmin - 1, ymin - 1, xmax, ymax))
    return ExportImage(
        file_name=PurePosixPath(found).name,
        width=info.width,
        height=info.height,
        annotations=tuple(annotations),
        split=split_of(path) or split_of(found) or Split.TRAIN,
        source=found,
    )


def parse_voc(files: DatasetFiles, probe: Probe) -> ExportDataset:
    """Every VOC XML file of ``files``; classes sorted by name."""
    documents = [p for p in files.paths() if p.lower().endswith(".xml")]
    if not documents:
        raise BadRequestError("voc: no .xml annotation file in the dataset")
    index = ImageIndex(files.paths())
    images = [parse_xml(path, files.read(path), index, probe) for path in documents]
    return dataset_from_images(images)

"""Export labeled images as training data: COCO, YOLO, Pascal VOC, classification folders.

``model`` holds the plain rows (:class:`ExportImage`, typed annotations) and the
split; ``formats`` the pure format functions; ``archive`` the zip/folder
writers; ``rows`` builds an export from the platform's stored rows;
``routes`` the HTTP route (a module-level ``router``).
"""

from winnow.platform.export.formats import DatasetFile, ExportFormat, export_files
from winnow.platform.export.model import (
    Annotation,
    Box,
    ClassLabel,
    ExportDataset,
    ExportImage,
    KeypointObject,
    Polygon,
    Split,
    assign_splits,
    dataset_from_images,
    parse_split,
)

__all__ = [
    "Annotation",
    "Box",
    "ClassLabel",
    "DatasetFile",
    "ExportDataset",
    "ExportFormat",
    "ExportImage",
    "KeypointObject",
    "Polygon",
    "Split",
    "assign_splits",
    "dataset_from_images",
    "export_files",
    "parse_split",
]

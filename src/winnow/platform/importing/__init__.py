"""Import labeled datasets (COCO, YOLO, Pascal VOC, classification folders) into a project.

``files`` reads a folder or a zip safely; ``coco``, ``yolo``, ``voc`` and
``folders`` are pure parsers producing the export's
:class:`~winnow.platform.export.model.ExportDataset` (so export and import
round-trip); ``bodies`` turns its annotations into stored annotation bodies;
``load`` runs an import (blobs first, rows in one transaction); ``routes`` the
HTTP route.
"""

from winnow.platform.importing.load import (
    ImportFormat,
    ImportOptions,
    ImportResult,
    import_dataset,
    parse_format,
)

__all__ = ["ImportFormat", "ImportOptions", "ImportResult", "import_dataset", "parse_format"]

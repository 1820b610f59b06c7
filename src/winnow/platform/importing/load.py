"""Import a labeled dataset into a project: parse, check, store blobs, then rows in one go.

:func:`import_dataset` is what the CLI and the API route call. In order:

1. every image file is decoded once, a few at a time on threads
   (:func:`winnow.platform.store.check_image`, under the upload byte and pixel
   caps), then the parser of the format reads the annotation files; any bad
   file or entry (an image only when an annotation uses it) stops the import
   with a message naming them;
2. every annotation is fitted to the project type and checked as a stored
   annotation would be, still before anything is written;
3. the new images' bytes go to the blob store (images already in the project,
   or repeated in the dataset, are skipped);
4. the rows (class names merged into the project's list, the batch, images,
   human annotations) are written in one transaction.

Any failure after step 3 began deletes the blobs written, so a dataset is
imported whole or not at all.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from winnow.errors import BadRequestError, ServiceUnavailableError, WinnowError
from winnow.platform import store
from winnow.platform.export.model import ExportDataset, ExportImage, Split
from winnow.platform.export.rows import project_classes
from winnow.platform.importing.bodies import annotation_body
from winnow.platform.importing.coco import parse_coco
from winnow.platform.importing.files import DatasetFiles, is_image
from winnow.platform.importing.folders import parse_folders
from winnow.platform.importing.identity import check_identity, with_sidecar
from winnow.platform.importing.layout import ImageInfo, Probe
from winnow.platform.importing.voc import parse_voc
from winnow.platform.importing.yolo import parse_yolo
from winnow.platform.schema import Project, Workspace
from winnow.platform.store.annotations import CLASSIFICATION_PROJECTS, check_annotation
from winnow.platform.store.datapoints import check_batch_name, new_blob_key
from winnow.platform.store.imports import (
    ImportedImage,
    add_imported_images,
    existing_hashes,
    merge_class_names,
)

if TYPE_CHECKING:
    from winnow.platform.service import Platform

_WORKERS = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Progress = Callable[[str, int, int], None]
"""Called with a stage (``checking``, ``storing``), the count done and the total."""


class ImportFormat(StrEnum):
    """The dataset formats winnow imports (the formats it exports)."""

    COCO = "coco"
    YOLO = "yolo"
    VOC = "voc"
    FOLDERS = "folders"


PARSERS: dict[ImportFormat, Callable[[DatasetFiles, Probe], ExportDataset]] = {
    ImportFormat.COCO: parse_coco,
    ImportFormat.YOLO: parse_yolo,
    ImportFormat.VOC: parse_voc,
    ImportFormat.FOLDERS: parse_folders,
}


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """What to import and where: format, target batch, one split only, held-out mark."""

    format: ImportFormat
    batch: str
    split: Split | None = None
    held_out: bool = False


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import stored."""

    project: str
    batch: str
    images: int
    duplicates: int
    classes: tuple[str, ...]
    new_classes: tuple[str, ...]
    held_out: bool


def parse_format(value: str) -> ImportFormat:
    """The import format named ``value``; BadRequestError listing the choices otherwise."""
    try:
        return ImportFormat(value)
    except ValueError:
        choices = ", ".join(f.value for f in ImportFormat)
        raise BadRequestError(f"format: must be one of {choices}; got {value!r}") from None


class _Prober:
    """Decode each image once, remembering its size, hash and content type.

    :meth:`warm` decodes every image file of the dataset up front on a few
    threads (the JPEG decoder releases the GIL); a file that fails is only
    reported when a parser asks for it, so an image no annotation names
    cannot fail the import.
    """

    def __init__(self, files: DatasetFiles, platform: Platform, progress: Progress | None) -> None:
        self.files = files
        self.settings = platform.settings
        self.seen: dict[str, tuple[ImageInfo, str]] = {}
        self.failed: dict[str, WinnowError] = {}
        self.progress = progress

    def _check(self, path: str) -> tuple[ImageInfo, str] | WinnowError:
        try:
            checked = store.check_image(
                self.files.read(path),
                max_bytes=self.settings.max_upload_bytes,
                max_pixels=self.settings.max_image_pixels,
            )
        except WinnowError as exc:
            if exc.message.startswith(f"{path}:"):
                return exc
            return type(exc)(f"{path}: {exc.message}")
        return ImageInfo(checked.width, checked.height, checked.sha256), checked.content_type

    def _keep(self, path: str, outcome: tuple[ImageInfo, str] | WinnowError) -> None:
        if isinstance(outcome, WinnowError):
            self.failed[path] = outcome
        else:
            self.seen[path] = outcome

    def warm(self, paths: list[str]) -> None:
        """Decode ``paths`` in parallel, reporting progress as they finish."""
        workers = min(_WORKERS, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self._check, path): path for path in paths}
            for done, future in enumerate(as_completed(futures), start=1):
                self._keep(futures[future], future.result())
                if self.progress is not None:
                    self.progress("checking", done, len(paths))

    def __call__(self, path: str) -> ImageInfo:
        if path in self.failed:
            raise self.failed[path]
        if path not in self.seen:
            self._keep(path, self._check(path))
            return self(path)
        return self.seen[path][0]


def _check_format(project: Project, fmt: ImportFormat) -> None:
    classification = project.type in CLASSIFICATION_PROJECTS
    if classification != (fmt is ImportFormat.FOLDERS):
        wanted = "folders" if classification else "coco, yolo or voc"
        article = "an" if project.type[0] in "aeiou" else "a"
        raise BadRequestError(
            f"format: {article} {project.type} project imports {wanted}, not {fmt.value}"
        )


def _prepared(
    project: Project, dataset: ExportDataset, classes: list[str], prober: _Prober
) -> list[tuple[ExportImage, ImportedImage]]:
    """Each image with its stored-to-be row facts; checks every annotation, writes nothing."""
    out: list[tuple[ExportImage, ImportedImage]] = []
    for image in dataset.images:
        name, body = annotation_body(project.type, image, classes, dataset.keypoint_names)
        fmt = "json" if name.endswith(".json") else "txt"
        try:
            checked = check_annotation(project.type, fmt, body)
        except WinnowError as exc:
            raise BadRequestError(f"{image.source}: {exc.message}") from None
        info, content_type = prober.seen[image.source]
        identity = check_identity(image.source, image.extra)
        out.append(
            (
                image,
                ImportedImage(
                    blob_key="",
                    sha256=info.sha256,
                    width=info.width,
                    height=info.height,
                    size_bytes=0,
                    content_type=content_type,
                    name=_CONTROL.sub("_", PurePosixPath(image.source).name)[:256],
                    annotation_format=checked.format,
                    annotation_body=checked.body,
                    annotation_name=name,
                    source=identity.source,
                    source_info=identity.source_info,
                    tags=identity.tags,
                    metadata=identity.metadata,
                ),
            )
        )
    return out


def _keep_fresh(
    platform: Platform,
    files: DatasetFiles,
    sources: dict[str, str],
    put_at: dict[str, float],
    clock: Callable[[], float],
) -> None:
    """Write again the blobs written more than half the sweep's grace period ago.

    The orphan sweep (any platform process on this blob store) deletes blobs no
    row references once they are older than ``blob_sweep_grace_seconds``; the
    rows of an import are committed only after its last blob is written, so on
    a long import the first blobs would qualify. Rewriting them resets their
    age; the commit follows at once.
    """
    grace = platform.settings.blob_sweep_grace_seconds
    for _attempt in range(3):
        now = clock()
        old = [key for key, at in put_at.items() if now - at > grace / 2]
        if not old:
            return
        for key in old:
            platform.blobs.put(key, files.read(sources[key]))
            put_at[key] = clock()
    raise ServiceUnavailableError(
        "the import writes its images more slowly than half of blob_sweep_grace_seconds "
        f"({grace:g} s) allows; raise that setting or import the dataset in parts"
    )


def import_dataset(
    platform: Platform,
    *,
    workspace: Workspace,
    project: str,
    files: DatasetFiles,
    options: ImportOptions,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> ImportResult:
    """Import ``files`` into ``project`` as human-annotated images of batch ``options.batch``.

    Whole or nothing: on any error no row is written and every blob written is
    deleted. Bad input raises a BadRequestError (or 413) naming the file and entry.
    ``clock`` (wall seconds) times the blob writes against the orphan sweep's grace.
    """
    check_batch_name(options.batch)
    with platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        known = project_classes(session=session, project=target)
    _check_format(target, options.format)
    prober = _Prober(files, platform, progress)
    prober.warm([p for p in files.paths() if is_image(p)])
    dataset = with_sidecar(PARSERS[options.format](files, prober), files)
    if options.split is not None:
        dataset = ExportDataset(
            dataset.classes,
            tuple(i for i in dataset.images if i.split == options.split),
            dataset.keypoint_names,
        )
        if not dataset.images:
            raise BadRequestError(f"split: the dataset has no {options.split.value} images")
    classes = known + [c for c in dataset.classes if c not in known]
    prepared = _prepared(target, dataset, classes, prober)
    with platform.db.read() as session:
        present = existing_hashes(
            session=session, project=target, hashes=[row.sha256 for _img, row in prepared]
        )
    # one fresh key per new image, chosen up front so that a failure deletes them all
    new: dict[str, tuple[ExportImage, ImportedImage]] = {}
    for image, row in prepared:
        if row.sha256 not in present and row.sha256 not in new:
            new[row.sha256] = (image, replace(row, blob_key=new_blob_key(target, row.content_type)))
    written = [row.blob_key for _image, row in new.values()]

    sources = {row.blob_key: image.source for image, row in new.values()}
    put_at: dict[str, float] = {}

    def put(item: tuple[ExportImage, ImportedImage]) -> ImportedImage:
        image, row = item
        data = files.read(image.source)
        platform.blobs.put(row.blob_key, data)
        put_at[row.blob_key] = clock()
        return replace(row, size_bytes=len(data))

    try:
        # blob writes wait on fsync or the network: a few at a time overlap those waits
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            staged = []
            for done, row in enumerate(pool.map(put, new.values()), start=1):
                staged.append(row)
                if progress is not None:
                    progress("storing", done, len(new))
        _keep_fresh(platform, files, sources, put_at, clock)
        with platform.db.write() as session:
            current = session.get(Project, target.id)
            if current is None:
                raise BadRequestError(f"project {project!r} was deleted during the import")
            added = merge_class_names(current, dataset.classes, known)
            _batch, duplicates = add_imported_images(
                session=session,
                project=current,
                batch_name=options.batch,
                images=staged,
                held_out=options.held_out,
            )
    except BaseException:
        for key in written:
            with suppress(Exception):  # the import's own error is the one to report
                platform.blobs.delete(key)
        raise
    for row in duplicates:  # raced in since the check above: the stored copy stays
        platform.blobs.delete(row.blob_key)
    stored = len(staged) - len(duplicates)
    return ImportResult(
        project=target.name,
        batch=options.batch,
        images=stored,
        duplicates=len(prepared) - stored,
        classes=tuple(dataset.classes),
        new_classes=tuple(added),
        held_out=options.held_out,
    )

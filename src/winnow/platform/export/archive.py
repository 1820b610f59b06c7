"""Write export files to a zip stream or a folder, reading image bytes on demand.

Images are fetched one at a time through ``read_source`` (a blob store's
``get``), so memory stays bounded by the largest image whatever the export
size. JPEGs are stored uncompressed in the zip (deflating them gains nothing);
text files are deflated.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from winnow.platform.export.formats import DatasetFile

ReadSource = Callable[[str], bytes]
Progress = Callable[[int, int], None]


def _file_bytes(item: DatasetFile, read_source: ReadSource) -> bytes:
    if item.content is not None:
        return item.content
    return read_source(item.source or "")


def write_zip(
    files: Sequence[DatasetFile],
    read_source: ReadSource,
    out: BinaryIO,
    progress: Progress | None = None,
) -> None:
    """Write every file into a zip archive on ``out`` (which may be non-seekable)."""
    with zipfile.ZipFile(out, "w") as archive:
        for done, item in enumerate(files, start=1):
            method = zipfile.ZIP_STORED if item.source is not None else zipfile.ZIP_DEFLATED
            archive.writestr(item.path, _file_bytes(item, read_source), compress_type=method)
            if progress is not None:
                progress(done, len(files))


def write_directory(
    files: Sequence[DatasetFile],
    read_source: ReadSource,
    out_dir: Path,
    progress: Progress | None = None,
) -> None:
    """Write every file under ``out_dir`` (created as needed); paths never leave it."""
    root = out_dir.resolve()
    for done, item in enumerate(files, start=1):
        target = (root / item.path).resolve()
        if root not in target.parents:
            raise ValueError(f"export path escapes the output folder: {item.path!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_file_bytes(item, read_source))
        if progress is not None:
            progress(done, len(files))


class _ChunkSink:
    """A write-only file object collecting bytes for a streaming response."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def iter_zip(files: Sequence[DatasetFile], read_source: ReadSource) -> Iterator[bytes]:
    """Yield a zip archive of ``files`` chunk by chunk (one chunk per file, then the directory)."""
    sink = _ChunkSink()
    with zipfile.ZipFile(sink, "w") as archive:  # type: ignore[call-overload]
        for item in files:
            method = zipfile.ZIP_STORED if item.source is not None else zipfile.ZIP_DEFLATED
            archive.writestr(item.path, _file_bytes(item, read_source), compress_type=method)
            chunk = sink.take()
            if chunk:
                yield chunk
    tail = sink.take()
    if tail:
        yield tail

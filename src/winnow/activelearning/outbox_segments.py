"""The outbox's image bytes: append-only segment files beside its SQLite database.

An image written into SQLite is written twice (the write-ahead log, then the
checkpoint into the database file) and once more when its row is emptied after
delivery; at a high collection rate those writes alone filled this machine's
disk. Here each process appends the image bytes of a burst to its own segment
file with one ``writev`` and one ``fdatasync``, before the burst's (small) SQLite
transaction commits the rows that point at them (segment name, offset, length).
A row therefore never points at bytes that are not on disk; bytes whose
transaction did not commit are garbage, freed with their segment.

Rules callers may rely on:

- A segment is written by one :class:`SegmentWriter` only, which holds an
  exclusive ``flock`` on it from its creation (under a temporary name, renamed
  once locked) until it rotates to a new one; a segment is never reopened
  for writing.
- :func:`collect` deletes a segment only when it can take that lock (no writer
  has it, none ever will again) and no row references it.
- Bytes are read with :func:`read_many`, which opens and closes the files it
  reads (no descriptor kept, so a deleted segment's space is freed at once).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from winnow.durable import fsync_folder

SUFFIX = ".seg"
_TMP_SUFFIX = ".tmp"
ROTATE_BYTES = 64 * 1024 * 1024
"""A writer starts a new segment once its current one holds this many bytes..."""
ROTATE_SECONDS = 300.0
"""... or is this old, so delivered bytes are freed within minutes, not when 64 MiB filled."""
_IOV_MAX = 512  # buffers a single writev takes here (Linux IOV_MAX is 1024)


def folder_of(database: Path) -> Path:
    """The segment folder of the outbox database ``database``."""
    return database.with_name(database.name + ".segments")


class SegmentWriter:
    """Appends image bytes to this process's current segment; not thread-safe (the outbox
    calls it under its lock).

    ``sync`` False skips the ``fdatasync`` (the outbox's ``synchronous=NORMAL``: durable
    across a process crash, not a power cut).
    """

    def __init__(
        self, folder: Path, *, sync: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.folder = folder
        self._sync = sync
        self._clock = clock
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        self._opened_at = 0.0

    def append(self, blobs: Sequence[bytes]) -> tuple[str, list[int]]:
        """Write ``blobs`` at the end of the current segment, durably (one ``writev`` and
        one ``fdatasync``); return the segment's name and each blob's offset."""
        total = sum(len(b) for b in blobs)
        if (
            self._fd is None
            or (self._size and self._size + total > ROTATE_BYTES)
            or self._clock() - self._opened_at >= ROTATE_SECONDS
        ):
            self._rotate()
        assert self._fd is not None
        offsets: list[int] = []
        at = self._size
        for blob in blobs:
            offsets.append(at)
            at += len(blob)
        views = [memoryview(b) for b in blobs if b]
        try:
            for start in range(0, len(views), _IOV_MAX):
                _write_all(self._fd, views[start : start + _IOV_MAX])
            if self._sync:
                os.fdatasync(self._fd)
        except BaseException:
            # A short or failed write leaves the end unknown: start a new segment next time.
            self._close()
            raise
        self._size = at
        return self._name, offsets

    def _rotate(self) -> None:
        self._close()
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{time.time_ns()}-{secrets.token_hex(4)}{SUFFIX}"
        temporary = self.folder / (name + _TMP_SUFFIX)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            # Locked before it has its name: collect() never sees an unlocked new segment.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(temporary, self.folder / name)
            if self._sync:
                fsync_folder(self.folder)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._name, self._size = fd, name, 0
        self._opened_at = self._clock()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock: the segment may be collected
        self._fd = None

    def close(self) -> None:
        """Stop writing (the current segment may then be collected). Idempotent."""
        self._close()


def _write_all(fd: int, views: list[memoryview]) -> None:
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def read_many(folder: Path, wanted: Iterable[tuple[str, int, int]]) -> list[bytes | None]:
    """The bytes at each (segment, offset, length) of ``wanted``, in order; None for one
    whose segment is gone or too short (bytes lost, e.g. a folder deleted by hand)."""
    requests = list(wanted)
    out: list[bytes | None] = [None] * len(requests)
    by_segment: dict[str, list[int]] = {}
    for index, (segment, _offset, _length) in enumerate(requests):
        by_segment.setdefault(segment, []).append(index)
    for segment, indexes in by_segment.items():
        if "/" in segment or segment.startswith("."):
            continue  # not a name this module wrote
        try:
            fd = os.open(folder / segment, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            for index in indexes:
                _segment, offset, length = requests[index]
                data = os.pread(fd, length, offset)
                out[index] = data if len(data) == length else None
        finally:
            os.close(fd)
    return out


def collect(folder: Path, referenced: Callable[[str], bool]) -> int:
    """Delete the segments of ``folder`` no writer holds and no row references
    (``referenced(name)``, asked with the segment locked); return how many.

    Temporary files of a writer that died between creating and naming a segment
    are deleted likewise once a minute old (a younger one may be about to be locked).
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    deleted = 0
    for name in names:
        temporary = name.endswith(SUFFIX + _TMP_SUFFIX)
        if not (name.endswith(SUFFIX) or temporary):
            continue
        path = folder / name
        try:
            if temporary and time.time() - path.stat().st_mtime < 60:
                continue
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a writer's current segment
            if temporary or not referenced(name):
                path.unlink(missing_ok=True)
                deleted += 1
        finally:
            os.close(fd)
    return deleted

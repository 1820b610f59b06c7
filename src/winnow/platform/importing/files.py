"""The files of a dataset being imported: a folder on disk or an uploaded zip, read safely.

Parsers see a :class:`DatasetFiles`: the sorted relative POSIX paths of its
files and a ``read(path)``. Hidden files (``.DS_Store``) and macOS resource
forks (``__MACOSX/``) are left out. A zip is refused before anything is read
when it has too many entries, a path leaving the archive (absolute, ``..``,
backslashes, drive letters), or more uncompressed bytes in total than allowed
(a zip bomb); ``zipfile`` never inflates an entry past its declared size, so the
declared sizes bound what is read. Paths are kept as they are in the zip
(parsers find their files below any top folder, so a zipped ``dataset/``
folder works too, and messages name the path as the user sees it).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from winnow.errors import BadRequestError, PayloadTooLargeError

MAX_ENTRIES = 1_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class DatasetFiles(Protocol):
    """Read access to the files of a dataset, by relative POSIX path."""

    def paths(self) -> list[str]:
        """Every file's path, sorted."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of ``path`` (one of :meth:`paths`); BadRequestError naming it when unreadable."""
        ...


def is_image(path: str) -> bool:
    """Whether ``path`` names an image file by its extension."""
    return path.lower().endswith(IMAGE_SUFFIXES)


def _hidden(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(p.startswith(".") for p in parts) or (bool(parts) and parts[0] == "__MACOSX")


def check_member_name(name: str) -> None:
    """Refuse a zip member name that could leave the archive when extracted or joined."""
    pure = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in pure.parts)
    ):
        raise BadRequestError(f"zip: entry {name!r} has a path outside the archive; refused")


class ZipFiles:
    """The files of a zip archive, checked for traversal and size before use."""

    def __init__(self, handle: BinaryIO | Path, *, max_bytes: int) -> None:
        try:
            self._zip = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise BadRequestError(f"zip: not a readable zip file ({exc})") from None
        infos = self._zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BadRequestError(f"zip: {len(infos)} entries, over the limit of {MAX_ENTRIES}")
        total = 0
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            check_member_name(info.filename)
            if info.is_dir() or _hidden(info.filename):
                continue
            total += info.file_size
            if total > max_bytes:
                raise PayloadTooLargeError(
                    f"zip: its files hold more than {max_bytes} bytes uncompressed; refused"
                )
            members[info.filename] = info
        self._members = {name: members[name] for name in sorted(members)}

    def paths(self) -> list[str]:
        """Every file's path in the archive, sorted."""
        return list(self._members)

    def read(self, path: str) -> bytes:
        """The inflated bytes of ``path``; BadRequestError naming it when corrupt."""
        try:
            return self._zip.read(self._members[path])
        except KeyError:
            raise BadRequestError(f"{path}: no such file in the zip") from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise BadRequestError(f"{path}: cannot be read from the zip ({exc})") from None
        except RuntimeError as exc:  # zipfile's word for an encrypted entry
            raise BadRequestError(f"{path}: cannot be read from the zip ({exc})") from None

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()


class DirectoryFiles:
    """The regular files below a folder (symbolic links are not followed out of it)."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        if not root.is_dir():
            raise BadRequestError(f"{root}: not a folder")
        self._root = root.resolve()
        self._max_bytes = max_bytes
        found: list[str] = []
        for folder, dirs, files in os.walk(self._root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            base = Path(folder)
            for name in files:
                rel = (base / name).relative_to(self._root).as_posix()
                if not _hidden(rel) and (base / name).is_file():
                    found.append(rel)
        self._paths = sorted(found)

    def paths(self) -> list[str]:
        """Every file's path relative to the folder, sorted."""
        return list(self._paths)

    def read(self, path: str) -> bytes:
        """The bytes of ``path``; BadRequestError naming it when missing, unreadable or too large."""
        target = (self._root / path).resolve()
        if self._root not in target.parents:
            raise BadRequestError(f"{path}: outside the dataset folder")
        try:
            if target.stat().st_size > self._max_bytes:
                raise PayloadTooLargeError(f"{path}: over the limit of {self._max_bytes} bytes")
            return target.read_bytes()
        except OSError as exc:
            raise BadRequestError(f"{path}: cannot be read ({exc.strerror})") from None

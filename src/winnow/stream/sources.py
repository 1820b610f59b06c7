"""Where frames come from: video files, image folders, stream URLs, cameras.

Every source implements :class:`FrameSource`: ``open()``, then ``read()``
until it returns ``None`` (the end), then ``close()``. ``read`` raises
:class:`StreamSourceError` when the source fails (a dropped connection, a
corrupt file); the runner reconnects live sources and ends file sources.

Decoding: files and URLs go through PyAV (FFmpeg). On this machine PyAV
decoded a 1080p H.264 file to RGB faster than OpenCV's ``VideoCapture``
(see ``bench/bench_stream.py`` and docs/how-to/streams.md), and it handles
RTSP and HTTP (MJPEG ``multipart/x-mixed-replace``, HLS, plain files over
HTTP) with read time-outs, so a dead camera cannot hang a reader. Cameras
(a device index) go through OpenCV, which speaks V4L2 directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from winnow.errors import StreamSourceError
from winnow.models.base import Image
from winnow.settings import TAG_CHARS

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# Tags are at most 64 characters; the runner tags datapoints "source:<id>".
MAX_SOURCE_ID = 64 - len("source:")
_SOURCE_ID = re.compile(rf"^[{TAG_CHARS}]{{1,{MAX_SOURCE_ID}}}$")
_BAD_ID_CHARS = re.compile(rf"[^{TAG_CHARS}]+")


@dataclass(slots=True, frozen=True)
class Frame:
    """One decoded frame.

    ``index`` counts frames read from the source since the runner started it
    (it keeps counting across reconnects). ``timestamp`` is the media time in
    seconds for files, and the wall-clock time (``time.time()``) of capture
    for live sources and image folders.
    """

    source_id: str
    index: int
    timestamp: float
    image: Image


class FrameSource(Protocol):
    """A source of RGB frames. Not thread-safe: one reader thread owns it."""

    @property
    def source_id(self) -> str:
        """The id that tags every datapoint from this source."""
        ...

    @property
    def is_live(self) -> bool:
        """True for cameras and streams: never build a backlog, reconnect after a drop."""
        ...

    @property
    def native_fps(self) -> float | None:
        """Frames per second of the media, when known."""
        ...

    def open(self) -> None:
        """Connect or open the file; raises ``StreamSourceError``."""
        ...

    def read(self) -> Frame | None:
        """The next frame, or None at the end; raises ``StreamSourceError`` on failure."""
        ...

    def close(self) -> None:
        """Release the connection or file. Safe to call twice, or without ``open``."""
        ...


def check_source_id(source_id: str) -> str:
    """Return ``source_id`` if it can be used in a tag; raise ``StreamSourceError`` if not."""
    if not _SOURCE_ID.match(source_id):
        raise StreamSourceError(
            f"source id {source_id!r} must be 1-{MAX_SOURCE_ID} characters of "
            "a-z A-Z 0-9 - _ : / . [ ] < > { } @"
        )
    return source_id


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` replaced by ``***@`` (for logs, errors and ids)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def _derive_id(text: str) -> str:
    cleaned = _BAD_ID_CHARS.sub("-", text).strip("-") or "source"
    return cleaned[:MAX_SOURCE_ID]


class _Counter:
    """Frame index that survives reconnects."""

    def __init__(self) -> None:
        self.next = 0

    def take(self) -> int:
        value = self.next
        self.next += 1
        return value


class PyAVSource:
    """A video file or a stream URL decoded by PyAV (FFmpeg)."""

    def __init__(
        self,
        target: str,
        *,
        source_id: str,
        live: bool,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
        options: dict[str, str] | None = None,
    ) -> None:
        self._target = target
        self._shown = redact_url(target)
        self._id = check_source_id(source_id)
        self._live = live
        self._timeouts = (open_timeout, read_timeout)
        self._options = dict(options or {})
        if target.startswith(("rtsp://", "rtsps://")):
            self._options.setdefault("rtsp_transport", "tcp")
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._fps: float | None = None
        self._time_base: Fraction | None = None
        self._counter = _Counter()

    @property
    def source_id(self) -> str:
        """The id that tags every datapoint from this source."""
        return self._id

    @property
    def is_live(self) -> bool:
        """True for stream URLs, False for files."""
        return self._live

    @property
    def native_fps(self) -> float | None:
        """Average frame rate of the video stream, when the container says."""
        return self._fps

    def open(self) -> None:
        """Open the file or connect to the URL; raises ``StreamSourceError``."""
        import av

        self.close()
        try:
            container = av.open(self._target, options=self._options, timeout=self._timeouts)
        except (av.FFmpegError, OSError) as exc:
            detail = str(exc).replace(self._target, self._shown)
            raise StreamSourceError(f"cannot open {self._shown}: {detail}") from exc
        if not container.streams.video:
            container.close()
            raise StreamSourceError(f"{self._shown} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self._fps = float(rate) if rate else None
        self._time_base = stream.time_base
        self._container = container
        self._frames = iter(container.decode(stream))

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the file (or of the stream)."""
        import av

        if self._frames is None:
            raise StreamSourceError(f"{self._id}: read before open")
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except (av.FFmpegError, OSError) as exc:
            detail = str(exc).replace(self._target, self._shown)
            raise StreamSourceError(f"{self._id}: read failed: {detail}") from exc
        image = frame.to_ndarray(format="rgb24")
        if self._live or frame.pts is None or self._time_base is None:
            timestamp = time.time()
        else:
            timestamp = float(frame.pts * self._time_base)
        return Frame(self._id, self._counter.take(), timestamp, image)

    def close(self) -> None:
        """Close the container."""
        container, self._container, self._frames = self._container, None, None
        if container is not None:
            container.close()


class ImageFolderSource:
    """Every image file of a folder, in sorted name order. Unreadable files are skipped."""

    def __init__(self, folder: Path, *, source_id: str) -> None:
        self._folder = folder
        self._id = check_source_id(source_id)
        self._files: list[Path] = []
        self._position = 0
        self._counter = _Counter()
        self.skipped: list[Path] = []

    @property
    def source_id(self) -> str:
        """The id that tags every datapoint from this source."""
        return self._id

    @property
    def is_live(self) -> bool:
        """A folder is read once."""
        return False

    @property
    def native_fps(self) -> float | None:
        """A folder has no frame rate."""
        return None

    def open(self) -> None:
        """List the folder's image files."""
        if not self._folder.is_dir():
            raise StreamSourceError(f"{self._folder} is not a folder")
        self._files = sorted(
            p for p in self._folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        self._position = 0

    def read(self) -> Frame | None:
        """The next decodable image, or None after the last."""
        while self._position < len(self._files):
            path = self._files[self._position]
            self._position += 1
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                self.skipped.append(path)
                continue
            image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            return Frame(self._id, self._counter.take(), time.time(), image)
        return None

    def close(self) -> None:
        """Nothing to release."""
        self._files = []


class CameraSource:
    """A local camera by device index, read with OpenCV."""

    def __init__(self, index: int, *, source_id: str) -> None:
        self._index = index
        self._id = check_source_id(source_id)
        self._capture: Any = None
        self._counter = _Counter()

    @property
    def source_id(self) -> str:
        """The id that tags every datapoint from this source."""
        return self._id

    @property
    def is_live(self) -> bool:
        """A camera is live."""
        return True

    @property
    def native_fps(self) -> float | None:
        """The frame rate the driver reports, if any."""
        if self._capture is None:
            return None
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        return fps if fps > 0 else None

    def open(self) -> None:
        """Open the device; raises ``StreamSourceError`` when it cannot."""
        self.close()
        capture = cv2.VideoCapture(self._index)
        if not capture.isOpened():
            capture.release()
            raise StreamSourceError(f"cannot open camera {self._index}")
        self._capture = capture

    def read(self) -> Frame | None:
        """The next frame; a failed grab raises (the runner reopens the camera)."""
        if self._capture is None:
            raise StreamSourceError(f"{self._id}: read before open")
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            raise StreamSourceError(f"camera {self._index} returned no frame")
        image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return Frame(self._id, self._counter.take(), time.time(), image)

    def close(self) -> None:
        """Release the device."""
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()


def open_source(spec: str, *, source_id: str | None = None) -> FrameSource:
    """Build a source from a command-line spec.

    ``spec`` is a camera index (``0``), a stream URL (``rtsp://``, ``http://``...),
    a folder of images, or a video file; ``ID=SPEC`` names the source (else the
    id is derived: ``camera0``, the URL's host and path, the file or folder name).
    Raises ``StreamSourceError`` for a path that does not exist or a bad id.
    """
    if source_id is None and "=" in spec and not spec.startswith(URL_SCHEMES):
        named, rest = spec.split("=", 1)
        if named and rest:
            source_id, spec = named, rest
    if spec.isdigit():
        return CameraSource(int(spec), source_id=source_id or f"camera{spec}")
    if spec.startswith(URL_SCHEMES):
        address = spec.split("://", 1)[1].split("?", 1)[0]
        host, slash, rest = address.partition("/")
        derived = _derive_id(host.rsplit("@", 1)[-1] + slash + rest)
        return PyAVSource(spec, source_id=source_id or derived, live=True)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, source_id=source_id or _derive_id(path.name))
    if path.is_file():
        return PyAVSource(str(path), source_id=source_id or _derive_id(path.stem), live=False)
    raise StreamSourceError(
        f"source {spec!r} is not a camera index, a stream URL, a folder or a video file"
    )

"""Which image formats are accepted, told from magic bytes, and the checks done before decoding.

Only formats a camera or a user actually sends are decoded: JPEG, PNG, WebP,
BMP, TIFF and GIF (:data:`ACCEPTED`). Anything else is refused before any
decoder sees it, with a message that names the format when Pillow can tell
it from the header (SPIDER, DDS, QOI, ...). Container lengths that a decoder
would trust are checked against the bytes actually present: every PNG chunk
length, and the RIFF size of a WebP, so a 2 KB file cannot make a decoder
allocate the gigabytes its header declares. Pure functions; errors are
:class:`winnow.errors.InvalidImageError` (400).
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image

from winnow.errors import InvalidImageError

ACCEPTED = ("JPEG", "PNG", "WebP", "BMP", "TIFF", "GIF")
"""The accepted formats, by the names used in messages."""

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WebP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/gif": ".gif",
}
"""Media type of an accepted format (:data:`MIME_TYPES`) -> the file name extension it is saved with."""
PILLOW_NAMES = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "WebP": "WEBP",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "GIF": "GIF",
}
"""Accepted format -> the name of Pillow's plugin that reads its header."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MAX_CHUNK = 2**31 - 1  # the PNG spec's bound on a chunk length
# Pillow needs only the header to name a refused format; bound its work.
_NAMING_BYTES = 65536
_SEND = ", ".join(ACCEPTED[:-1]) + " or " + ACCEPTED[-1]


def sniff(data: bytes) -> str | None:
    """The accepted format ``data`` starts like (a name of :data:`ACCEPTED`), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == PNG_SIGNATURE:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def mime_type(data: bytes) -> str:
    """The media type of ``data`` by its magic bytes; ``application/octet-stream`` if none."""
    fmt = sniff(data)
    return MIME_TYPES[fmt] if fmt else "application/octet-stream"


def refused_name(data: bytes) -> str | None:
    """The name of the (refused) format ``data`` is in, as Pillow tells it from the header."""
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        return "BigTIFF"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data[:_NAMING_BYTES])) as img:
                return str(img.format) if img.format else None
    except Exception:  # any plugin may fail on arbitrary bytes; the name is only a courtesy
        return None


def accepted_format(data: bytes) -> str:
    """The accepted format of ``data``; ``InvalidImageError`` naming any other format."""
    fmt = sniff(data)
    if fmt is not None:
        return fmt
    name = refused_name(data)
    if name is not None:
        raise InvalidImageError(f"unsupported image format '{name}'; send {_SEND}")
    raise InvalidImageError(
        f"not a decodable image (unknown or unsupported image format; send {_SEND})"
    )


def check_lengths(fmt: str, data: bytes) -> None:
    """Refuse declared lengths that the bytes do not hold (PNG chunks, WebP RIFF size)."""
    if fmt == "PNG":
        _check_png_chunks(data)
    elif fmt == "WebP":
        (riff_size,) = struct.unpack_from("<I", data, 4)
        if riff_size + 8 > len(data):
            raise InvalidImageError(
                f"not a decodable image (WebP declares {riff_size + 8} bytes, "
                f"only {len(data)} were sent: truncated)"
            )


def _check_png_chunks(data: bytes) -> None:
    """Walk the chunks up to IEND; each declared length must fit in what follows."""
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while pos + 8 <= end:
        length, kind = struct.unpack_from(">I4s", data, pos)
        available = end - pos - 12
        if length > _PNG_MAX_CHUNK or length > available:
            name = kind.decode("latin-1")
            raise InvalidImageError(
                f"not a decodable image (PNG chunk {name!r} declares {length} bytes, "
                f"only {max(0, available)} follow: truncated or corrupt)"
            )
        if kind == b"IEND":
            return
        pos += 12 + length
    if pos < end or pos == len(PNG_SIGNATURE):
        raise InvalidImageError("not a decodable image (PNG truncated inside a chunk header)")

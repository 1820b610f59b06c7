"""Odd image files built in memory: valid-but-unusual ones and hostile ones."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _rgb(width: int = 40, height: int = 30) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bomb_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (10^10 pixels), with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + _png_chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    """The first half of a 200x150 JPEG."""
    data = _save(_rgb(200, 150), "JPEG")
    return data[: len(data) // 2]


def gif() -> bytes:
    """A 40x30 palette GIF."""
    return _save(_rgb().convert("P"), "GIF")


def png_16bit() -> bytes:
    """A 40x30 16-bit grayscale PNG."""
    pixels = (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16)
    image = Image.fromarray(pixels)  # uint16 -> mode I;16
    assert image.mode == "I;16", image.mode
    return _save(image, "PNG")


def cmyk_jpeg() -> bytes:
    """A 40x30 CMYK JPEG."""
    return _save(_rgb().convert("CMYK"), "JPEG")


def one_pixel_png() -> bytes:
    """A 1x1 PNG."""
    return _save(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")


def exif_rotated_jpeg() -> bytes:
    """A 40x30 JPEG with EXIF orientation 6 (displayed 30 wide, 40 high)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(_rgb(), "JPEG", exif=exif.tobytes())


def rgba_png() -> bytes:
    """A 40x30 PNG with alpha."""
    return _save(_rgb().convert("RGBA"), "PNG")


def png_idat_length_bomb() -> bytes:
    """A 2.4 KB 32x24 PNG whose IDAT length field says 0xFFFFFFFF (issue 10's 4 GB allocation)."""
    valid = _save(_rgb(32, 24), "PNG")
    out, pos = valid[:8], 8
    while pos < len(valid):
        (length,) = struct.unpack_from(">I", valid, pos)
        kind, body = valid[pos + 4 : pos + 8], valid[pos + 8 : pos + 8 + length]
        chunk = _png_chunk(kind, body)
        out += struct.pack(">I", 0xFFFFFFFF) + chunk[4:] if kind == b"IDAT" else chunk
        pos += 12 + length
    return out


def refused_format(name: str) -> bytes:
    """A 32x24 image in a format Pillow writes but winnow refuses (SPIDER, DDS, QOI, ...)."""
    image = _rgb(32, 24)
    return _save(image.convert("F") if name == "SPIDER" else image, name)

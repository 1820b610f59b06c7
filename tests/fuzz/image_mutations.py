"""Valid files of every accepted image format, and hypothesis strategies that break them.

The mutations are structured: they know where each format keeps its lengths
and dimensions (PNG chunk lengths and IHDR, GIF screen, BMP info header, JPEG
SOF, WebP VP8X canvas, TIFF tags), and add truncation and bit flips in the
header, so generated files get past magic-byte checks into the decoders.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from PIL import Image

INTERESTING_U32 = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
INTERESTING_U16 = [0, 1, 0x7F, 0xFF, 0x7FFF, 0x8000, 0xFFFF]


def _pixels(width: int = 32, height: int = 24) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _animated_gif() -> bytes:
    frames = [_pixels().convert("P"), _pixels().rotate(90).convert("P")]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


SEEDS: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: _save(_pixels(), "JPEG", quality=80),
    "jpeg-progressive": lambda: _save(_pixels(), "JPEG", progressive=True),
    "png": lambda: _save(_pixels(), "PNG"),
    "png-palette-interlaced": lambda: _save(_pixels().convert("P"), "PNG", interlace=1),
    "png-16bit-gray": lambda: _save(Image.fromarray(np.full((24, 32), 4000, np.uint16)), "PNG"),
    "webp-lossy": lambda: _save(_pixels(), "WEBP", quality=70),
    "webp-lossless": lambda: _save(_pixels(), "WEBP", lossless=True),
    "webp-alpha": lambda: _save(_pixels().convert("RGBA"), "WEBP"),
    "bmp": lambda: _save(_pixels(), "BMP"),
    "bmp-rle8": lambda: _save(_pixels().convert("P"), "BMP", compression="rle8"),
    "tiff": lambda: _save(_pixels(), "TIFF"),
    "tiff-lzw": lambda: _save(_pixels(), "TIFF", compression="tiff_lzw"),
    "tiff-deflate": lambda: _save(_pixels(), "TIFF", compression="tiff_adobe_deflate"),
    "gif": lambda: _save(_pixels().convert("P"), "GIF"),
    "gif-animated": _animated_gif,
}


def png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of each chunk of a PNG, in order."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        out.append((pos, kind))
        pos += 12 + length
    return out


def _fix_ihdr_crc(data: bytearray) -> None:
    """Recompute the IHDR CRC (type at 12, 13 data bytes at 16, CRC at 29) after a size edit."""
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)


def _tiff_fields(data: bytes) -> list[int]:
    """Offsets of the value fields of the first IFD's entries (where sizes and offsets live)."""
    if len(data) < 8:
        return []
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd + 2 > len(data):
        return []
    (count,) = struct.unpack_from(order + "H", data, ifd)
    return [ifd + 2 + 12 * i + 8 for i in range(count) if ifd + 2 + 12 * i + 12 <= len(data)]


def dimension_offsets(data: bytes) -> list[tuple[int, str]]:
    """Where the format keeps sizes: (offset, struct format) of fields worth breaking."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return [(16, ">I"), (20, ">I")]
    if data[:3] == b"GIF":
        found = [(6, "<H"), (8, "<H")]
        descriptor = data.find(b"\x2c", 13)
        if descriptor > 0:
            found += [(descriptor + 1 + i, "<H") for i in (0, 2, 4, 6)]
        return found
    if data[:2] == b"BM":
        return [(2, "<I"), (10, "<I"), (14, "<I"), (18, "<i"), (22, "<i"), (28, "<H"), (34, "<I")]
    if data[:3] == b"\xff\xd8\xff":
        found = []
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            sof = data.find(marker)
            if sof > 0:
                found += [(sof + 2, ">H"), (sof + 5, ">H"), (sof + 7, ">H")]
        return found
    if data[:4] == b"RIFF":
        return [(4, "<I"), (16, "<I"), (24, "<H"), (26, "<H")]
    if data[:2] in (b"II", b"MM"):
        order = "<" if data[:2] == b"II" else ">"
        return [(offset, order + "I") for offset in _tiff_fields(data)]
    return []


@st.composite
def mutated_images(draw: st.DrawFn) -> tuple[str, bytes]:
    """(seed name, bytes) of a valid file with one to three structured mutations."""
    name = draw(st.sampled_from(sorted(SEEDS)), label="seed")
    data = bytearray(SEEDS[name]())
    for _ in range(draw(st.integers(1, 3), label="mutations")):
        kind = draw(
            st.sampled_from(["chunk-length", "dimension", "truncate", "header-flip", "any-flip"]),
            label="kind",
        )
        if kind == "chunk-length" and data[:4] == b"\x89PNG":
            chunks = png_chunks(bytes(data))
            if chunks:
                offset, _kind = draw(st.sampled_from(chunks), label="chunk")
                value = draw(st.one_of(st.sampled_from(INTERESTING_U32), st.integers(0, 2**32 - 1)))
                struct.pack_into(">I", data, offset, value)
        elif kind == "dimension":
            fields = [
                (o, f)
                for o, f in dimension_offsets(bytes(data))
                if o + struct.calcsize(f) <= len(data)
            ]
            if fields:
                offset, fmt = draw(st.sampled_from(fields), label="field")
                size = struct.calcsize(fmt)
                bound = 2 ** (8 * size) - 1
                choices = INTERESTING_U16 if size == 2 else INTERESTING_U32
                value = draw(
                    st.one_of(st.sampled_from(choices), st.integers(0, bound)), label="value"
                )
                if fmt.endswith("i"):
                    value -= 2**31 if value > 2**31 - 1 else 0
                struct.pack_into(fmt, data, offset, value)
                # IHDR is 8 + 13 bytes + CRC from offset 8; a truncated file may not hold it.
                ihdr_whole = len(data) >= 33
                if data[:4] == b"\x89PNG" and ihdr_whole and draw(st.booleans(), label="fix-crc"):
                    _fix_ihdr_crc(data)
        elif kind == "truncate" and len(data) > 1:
            data = data[: draw(st.integers(1, len(data) - 1), label="cut")]
        else:
            span = min(len(data), 64) if kind == "header-flip" else len(data)
            at = draw(st.integers(0, span - 1), label="at")
            data[at] ^= 1 << draw(st.integers(0, 7), label="bit")
    return name, bytes(data)

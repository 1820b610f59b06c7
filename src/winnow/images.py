"""Decode, orient, resize, encode and hash images: pure functions.

Every array is numpy ``uint8`` of shape ``(height, width, 3)`` in RGB order.
Only the formats of :data:`winnow.image_formats.ACCEPTED` are decoded (told
from magic bytes; others are refused by name). JPEG goes through simplejpeg
(libjpeg-turbo; its header is read first so the pixel cap is checked before
any pixel is decoded); every other format goes through OpenCV, after its
declared lengths are checked against the data and Pillow has read only the
header for the same pixel cap. Bad input raises
:class:`winnow.errors.InvalidImageError` (400) with a message that says what
is wrong; no decoder exception escapes as anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pybase64
import simplejpeg
from PIL import Image, UnidentifiedImageError

from winnow.errors import InvalidImageError, PayloadTooLargeError
from winnow.image_formats import PILLOW_NAMES, accepted_format, check_lengths, sniff

_DATA_URL = re.compile(r"^data:[^,]*?;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_JPEG_MAGIC = b"\xff\xd8\xff"
_EXIF_ORIENTATION = 0x0112

ImageArray = npt.NDArray[np.uint8]
"""An RGB image: ``uint8``, shape (height, width, 3)."""


def decode_base64(value: str) -> bytes:
    """Decode base64 text into bytes.

    Accepts a ``data:image/...;base64,`` prefix, embedded whitespace and
    newlines, missing ``=`` padding and the URL-safe alphabet. Raises
    ``InvalidImageError("image is not valid base64 ...")`` otherwise.
    """
    if value:
        try:
            # The common case, canonical padded base64, is one SIMD call (pybase64,
            # validate: only the alphabet and proper padding; about 50 times the standard
            # library's speed on a 100 KB image); the forms below are the slow path.
            return pybase64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    text = _DATA_URL.sub("", value.strip(), count=1)
    text = _WHITESPACE.sub("", text)
    if not text:
        raise InvalidImageError("image is not valid base64 (empty)")
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImageError("image is not valid base64") from None


def _too_large(width: int, height: int, max_pixels: int) -> InvalidImageError:
    return InvalidImageError(
        f"image is too large: {width}x{height} = {width * height} pixels, "
        f"the cap is {max_pixels} pixels"
    )


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise _too_large(width, height, max_pixels)


def _orient(image: ImageArray, orientation: int) -> ImageArray:
    """Apply an EXIF orientation (1-8) the way Pillow's ``exif_transpose`` does."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(image, k=-1)
    if orientation == 7:
        return np.rot90(image, k=2).transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(image, k=1)
    return image


# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic):
# every 0xC0-0xCF but DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_segments(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """``(width, height)`` from a JPEG's frame header (None when the marker walk finds
    none before the scan, or a broken one) and whether it has an EXIF segment (APP1
    ``Exif``) before its scan.

    A walk over the marker segments' lengths in Python, no copy (a handful of segments
    in a camera's file): it holds the GIL for a few microseconds, where a C header
    reader that releases it would wait for the GIL to come back from any other busy
    thread.
    """
    pos, end = 2, len(data)
    size: tuple[int, int] | None = None
    exif = False
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None, exif  # not a marker where one must be: let the decoder judge
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan, end of image: no header after
            return size, exif
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker in _SOF_MARKERS and pos + 9 <= end and length >= 8:
            height = (data[pos + 5] << 8) | data[pos + 6]
            width = (data[pos + 7] << 8) | data[pos + 8]
            size = (width, height) if width and height else None
        elif marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            exif = True
        pos += 2 + length
    return None, exif  # the data ends before the scan


def _has_exif(data: bytes) -> bool:
    """Whether a JPEG has an EXIF segment (APP1 ``Exif``) before its scan."""
    return _jpeg_segments(data)[1]


def _jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation of a JPEG, 1 when absent; only headers are read."""
    if not _has_exif(data):
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not make a decodable image fail
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's header without decoding pixels; None if not a JPEG."""
    try:
        height, width, _colorspace, _sub = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    return int(width), int(height)


def _decode_jpeg(data: bytes, max_pixels: int, auto_orient: bool) -> ImageArray | None:
    """Decode with simplejpeg; None when it cannot (e.g. CMYK), so OpenCV gets a go."""
    try:
        height, width, _colorspace, _sub = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    _check_pixels(width, height, max_pixels)
    try:
        image = simplejpeg.decode_jpeg(data, colorspace="RGB")
    except Exception:  # ValueError for what libjpeg-turbo refuses; OpenCV/Pillow get a go
        return None
    if auto_orient:
        orientation = _jpeg_orientation(data)
        if orientation != 1:
            image = np.ascontiguousarray(_orient(image, orientation))
    return np.asarray(image, dtype=np.uint8)


def _header_size(data: bytes, fmt: str, max_pixels: int) -> tuple[int, int]:
    """Width and height from the header (Pillow lazy open of ``fmt`` only); no pixels decoded."""
    try:
        with warnings.catch_warnings():
            # Our own cap applies, not Pillow's decompression-bomb default; and a hostile
            # file's corrupt EXIF or tags must not flood the log with warnings.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[PILLOW_NAMES[fmt]]) as img:
                return img.size
    except Image.DecompressionBombError as exc:
        # Pillow refuses sizes over twice its own default before we can see them.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{found.group(1)} pixels" if found else "too many pixels"
        raise InvalidImageError(
            f"image is too large: {pixels}, the cap is {max_pixels} pixels"
        ) from None
    except UnidentifiedImageError:
        # Pillow's own message names a BytesIO object, which tells a client nothing.
        raise InvalidImageError(f"not a decodable image (broken {fmt} header)") from None
    except Exception as exc:  # any header parser failure is the client's broken file
        raise InvalidImageError(f"not a decodable image ({exc})") from None


def _pillow_rgb(data: bytes, fmt: str, auto_orient: bool) -> ImageArray:
    """Last resort for formats OpenCV lacks (e.g. GIF): the first frame via Pillow."""
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[PILLOW_NAMES[fmt]]) as img:
                img.seek(0)
                frame = ImageOps.exif_transpose(img) if auto_orient else img
                return np.asarray(frame.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # a decoder failure is the client's broken file, never a 500
        raise InvalidImageError(f"not a decodable image ({exc})") from None


def decode_image(
    data: bytes, *, max_pixels: int, auto_orient: bool = True, max_bytes: int | None = None
) -> ImageArray:
    """Decode image bytes into an RGB ``uint8`` array of shape (height, width, 3).

    JPEG (simplejpeg), PNG, WebP, BMP, TIFF and GIF (first frame); any other
    format is an ``InvalidImageError`` naming it. Before any pixel is
    decoded: more than ``max_bytes`` bytes is a ``PayloadTooLargeError``
    (413); declared lengths that the data does not hold (PNG chunks, WebP
    RIFF size) and a header size over ``max_pixels`` are ``InvalidImageError``
    (400). With ``auto_orient`` the EXIF orientation is applied. Grayscale and
    alpha images come out as RGB. Every decoder failure is an
    ``InvalidImageError`` whose message says what is wrong.
    """
    if not data:
        raise InvalidImageError("not a decodable image (no bytes)")
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"image is {len(data)} bytes, over the limit of {max_bytes} bytes"
        )
    if data[:3] == _JPEG_MAGIC:
        image = _decode_jpeg(data, max_pixels, auto_orient)
        if image is not None:
            return image
        fmt = "JPEG"
    else:
        fmt = accepted_format(data)
        check_lengths(fmt, data)
    width, height = _header_size(data, fmt, max_pixels)
    _check_pixels(width, height, max_pixels)
    flags = cv2.IMREAD_COLOR
    if not auto_orient:
        flags |= cv2.IMREAD_IGNORE_ORIENTATION
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buffer, flags)
    except Exception:  # cv2.error or a failed allocation: let Pillow try, it raises cleanly
        bgr = None
    if bgr is None:  # formats OpenCV lacks, or files it cannot read
        image = _pillow_rgb(data, fmt, auto_orient)
    else:
        image = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidImageError(f"not a decodable image (unexpected shape {image.shape})")
    return image


def resize_to_fit(image: ImageArray, max_size: tuple[int, int] | None) -> ImageArray:
    """Downscale ``image`` to fit within ``max_size`` = (height, width), keeping its aspect.

    Never upscales: an image that already fits (or ``max_size`` None) is
    returned as is, the very same object. Each side of the result is at least
    1 pixel and within the bound; pixel (0, 0) and the far corner map onto
    each other exactly, so coordinates scale per axis by new/old size.

    Filtering: ``cv2.INTER_AREA`` (a box average, no aliasing). OpenCV's
    INTER_AREA is fast only for whole-number factors (about 2 ms for 1080p
    halved, 25-55 ms for 1080p to 1200 wide), so a shrink by a fractional
    factor f >= 2 first box-averages by floor(f) when the sizes divide, and
    the remaining shrink, always under 2x, uses ``cv2.INTER_LINEAR``. On
    photos the result is within ~2 grey levels (mean) of plain INTER_AREA at
    a quarter of its cost; only near-Nyquist patterns (a 1-pixel
    checkerboard) show some moire.
    """
    if max_size is None:
        return image
    max_height, max_width = max_size
    height, width = image.shape[:2]
    if height <= max_height and width <= max_width:
        return image
    scale = min(max_height / height, max_width / width)
    new_width = min(max_width, max(1, round(width * scale)))
    new_height = min(max_height, max(1, round(height * scale)))
    return _shrink(image, new_width, new_height)


def _shrink(image: ImageArray, width: int, height: int) -> ImageArray:
    src_height, src_width = image.shape[:2]
    fx, fy = src_width / width, src_height / height
    kx, ky = int(fx), int(fy)
    if (kx, ky) != (fx, fy) and kx >= 2 and ky >= 2:
        mid_width, mid_height = src_width // kx, src_height // ky
        if mid_width * kx == src_width and mid_height * ky == src_height:
            image = np.asarray(
                cv2.resize(image, (mid_width, mid_height), interpolation=cv2.INTER_AREA),
                dtype=np.uint8,
            )
            fx, fy = mid_width / width, mid_height / height
    if fx < 2 and fy < 2 and (fx, fy) != (1.0, 1.0):
        interpolation = cv2.INTER_LINEAR
    else:
        interpolation = cv2.INTER_AREA
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    return np.asarray(resized, dtype=np.uint8)


def encode_jpeg(image: ImageArray, quality: int) -> bytes:
    """Encode an RGB array as JPEG (simplejpeg, 4:2:0 chroma subsampling) at ``quality`` 1-100."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    array = np.ascontiguousarray(image, dtype=np.uint8)
    return bytes(
        simplejpeg.encode_jpeg(array, quality=quality, colorspace="RGB", colorsubsampling="420")
    )


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


class CapturedImage:
    """One served image as collection sees it: its pixels, decoded at most once, on first use,
    and its encoded bytes as they came (``original``), when they came encoded.

    Callers may rely on: ``pixels()`` returns the same array object on every call (decoding
    it the first time when needed; a decoder failure raises ``InvalidImageError`` then);
    ``width`` and ``height`` are those of ``pixels()`` (after EXIF orientation when the
    decoder applies it); ``original`` is None for images made from pixels (video frames).
    ``format`` is the accepted format of ``original`` (``"JPEG"``, ...) when it is known,
    and ``file_orientation`` the EXIF orientation (1-8) written in the file, whether or not
    it was applied: :attr:`original_decodes_as_pixels` says when the original bytes, decoded
    again anywhere (auto-oriented or not), give exactly ``pixels()``.
    """

    __slots__ = (
        "_applied",
        "_decode",
        "_pixels",
        "file_orientation",
        "format",
        "height",
        "original",
        "width",
    )

    def __init__(
        self,
        *,
        width: int,
        height: int,
        pixels: ImageArray | None = None,
        original: bytes | None = None,
        decode: Callable[[], ImageArray] | None = None,
        format: str | None = None,
        file_orientation: int = 1,
        applied_orientation: int = 1,
    ) -> None:
        if pixels is None and decode is None:
            raise ValueError("a CapturedImage needs its pixels or a way to decode them")
        self.width = width
        self.height = height
        self.original = original
        self.format = format
        self.file_orientation = file_orientation
        self._applied = applied_orientation  # what ``decode`` applies (1: nothing)
        self._pixels = pixels
        self._decode = decode

    @classmethod
    def from_pixels(cls, pixels: ImageArray, original: bytes | None = None) -> CapturedImage:
        """An image whose pixels are already decoded (a video frame, a decoded upload)."""
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        return cls(width=width, height=height, pixels=pixels, original=original)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        max_pixels: int,
        auto_orient: bool = True,
        max_bytes: int | None = None,
    ) -> CapturedImage:
        """The image encoded in ``data``, checked now, its pixels decoded on first use.

        Everything :func:`decode_image` refuses before decoding is refused here, at once,
        with the same errors: no bytes, more than ``max_bytes`` (413), a format that is not
        accepted, declared lengths the data does not hold, a header size over
        ``max_pixels`` (400). A JPEG that libjpeg-turbo can read is then only decoded when
        ``pixels()`` (or :meth:`pixels_at_least`) is called, and a decoder failure raises
        ``InvalidImageError`` there; every other format (and a JPEG whose header only
        OpenCV or Pillow read) is decoded here, so its failures are 400s now.
        """
        if not data:
            raise InvalidImageError("not a decodable image (no bytes)")
        if max_bytes is not None and len(data) > max_bytes:
            raise PayloadTooLargeError(
                f"image is {len(data)} bytes, over the limit of {max_bytes} bytes"
            )
        if data[:3] == _JPEG_MAGIC:
            size, exif = _jpeg_segments(data)
            if size is not None:
                width, height = size
                _check_pixels(width, height, max_pixels)
                orientation = _jpeg_orientation(data) if exif else 1
                applied = orientation if auto_orient else 1
                if applied >= 5:  # a transpose: the sides swap
                    width, height = height, width

                def decode() -> ImageArray:
                    pixels = decode_image(data, max_pixels=max_pixels, auto_orient=auto_orient)
                    if pixels.shape[:2] != (height, width):
                        raise InvalidImageError(
                            f"not a decodable image (its header says {width}x{height}, "
                            f"it decodes to {pixels.shape[1]}x{pixels.shape[0]})"
                        )
                    return pixels

                return cls(
                    width=int(width),
                    height=int(height),
                    original=data,
                    decode=decode,
                    format="JPEG",
                    file_orientation=orientation,
                    applied_orientation=applied,
                )
        pixels = decode_image(data, max_pixels=max_pixels, auto_orient=auto_orient)
        image = cls.from_pixels(pixels, original=data)
        image.format = sniff(data)
        # Other formats may carry an orientation OpenCV applies; never assume there is none.
        image.file_orientation = 1 if image.format == "JPEG" and not _has_exif(data) else 0
        return image

    @property
    def decoded(self) -> bool:
        """Whether the pixels exist already (so ``pixels()`` costs nothing)."""
        return self._pixels is not None

    @property
    def original_decodes_as_pixels(self) -> bool:
        """Whether ``original`` is a JPEG with no EXIF rotation (orientation 1), so that
        decoding it again, auto-oriented or not, gives ``pixels()`` exactly."""
        return self.original is not None and self.format == "JPEG" and self.file_orientation == 1

    def check_decodes(self) -> bool:
        """Raise ``InvalidImageError`` unless the pixels decode; True when libjpeg-turbo
        (simplejpeg) reads the original JPEG itself, False when only the fallback decoders
        do (CMYK, ...) or the image is not a JPEG.

        Cheaper than :meth:`pixels` for a JPEG not yet decoded: a strict decode at 1/8
        scale reads (and checks) all of its entropy-coded data but skips most of the
        IDCT; when libjpeg-turbo refuses it, the full decode decides.
        """
        if self.format != "JPEG" or self.original is None:
            self.pixels()
            return False
        try:
            simplejpeg.decode_jpeg(self.original, colorspace="RGB", min_width=1, min_height=1)
        except Exception:  # ValueError for what libjpeg-turbo refuses
            self.pixels()
            return False
        return True

    def pixels(self) -> ImageArray:
        """The RGB pixels, decoded now if they were not yet."""
        if self._pixels is None:
            assert self._decode is not None
            self._pixels = self._decode()
            self._decode = None
        return self._pixels

    def pixels_at_least(self, width: int, height: int) -> tuple[ImageArray, int]:
        """RGB pixels at least ``width`` x ``height``, decoded at a reduced DCT scale when that
        is cheaper, and the scale's denominator ``d``: pixel edges of the result lie at
        ``d`` times their coordinates in :meth:`pixels` (``d`` is 1, 2, 4 or 8).

        Only a JPEG not yet decoded is decoded at 1/2, 1/4 or 1/8 (libjpeg-turbo's scaled
        IDCT: each 8x8 block becomes a ``8/d`` square, so the mapping is exact); the result
        is not kept, and ``pixels()`` still decodes at full size. Otherwise (already
        decoded, another format, or no scale fits) the result is ``(pixels(), 1)``. A
        decoder failure raises ``InvalidImageError``.
        """
        if self._pixels is not None or self.format != "JPEG" or self.original is None:
            return self.pixels(), 1
        applied = self._applied
        swap = applied >= 5
        file_width, file_height = (self.height, self.width) if swap else (self.width, self.height)
        want_width, want_height = (height, width) if swap else (width, height)
        for denominator in (8, 4, 2):
            scaled_width = -(-file_width // denominator)
            scaled_height = -(-file_height // denominator)
            if scaled_width >= want_width and scaled_height >= want_height:
                break
        else:
            return self.pixels(), 1
        try:
            scaled = simplejpeg.decode_jpeg(
                self.original,
                colorspace="RGB",
                min_width=scaled_width,
                min_height=scaled_height,
            )
        except Exception:  # ValueError for what libjpeg-turbo refuses; the full decode decides
            return self.pixels(), 1
        if scaled.shape[:2] != (scaled_height, scaled_width):
            return self.pixels(), 1
        if applied != 1:
            scaled = np.ascontiguousarray(_orient(scaled, applied))
        return np.asarray(scaled, dtype=np.uint8), denominator


def captured(image: ImageArray | CapturedImage) -> CapturedImage:
    """``image`` as a :class:`CapturedImage` (an array is wrapped, without a copy)."""
    return image if isinstance(image, CapturedImage) else CapturedImage.from_pixels(image)

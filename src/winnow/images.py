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
import simplejpeg
from PIL import Image, UnidentifiedImageError

from winnow.errors import InvalidImageError, PayloadTooLargeError
from winnow.image_formats import PILLOW_NAMES, accepted_format, check_lengths

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
            # The common case, canonical padded base64, is one C call; the regular expressions
            # below cost five times that on a 100 KB image and are only for the other forms.
            return base64.b64decode(value, validate=True)
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


def _jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation of a JPEG, 1 when absent; only headers are read."""
    if b"Exif" not in data[:65536]:
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
    """

    __slots__ = ("_decode", "_pixels", "height", "original", "width")

    def __init__(
        self,
        *,
        width: int,
        height: int,
        pixels: ImageArray | None = None,
        original: bytes | None = None,
        decode: Callable[[], ImageArray] | None = None,
    ) -> None:
        if pixels is None and decode is None:
            raise ValueError("a CapturedImage needs its pixels or a way to decode them")
        self.width = width
        self.height = height
        self.original = original
        self._pixels = pixels
        self._decode = decode

    @classmethod
    def from_pixels(cls, pixels: ImageArray, original: bytes | None = None) -> CapturedImage:
        """An image whose pixels are already decoded (a video frame, a decoded upload)."""
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        return cls(width=width, height=height, pixels=pixels, original=original)

    @property
    def decoded(self) -> bool:
        """Whether the pixels exist already (so ``pixels()`` costs nothing)."""
        return self._pixels is not None

    def pixels(self) -> ImageArray:
        """The RGB pixels, decoded now if they were not yet."""
        if self._pixels is None:
            assert self._decode is not None
            self._pixels = self._decode()
            self._decode = None
        return self._pixels


def captured(image: ImageArray | CapturedImage) -> CapturedImage:
    """``image`` as a :class:`CapturedImage` (an array is wrapped, without a copy)."""
    return image if isinstance(image, CapturedImage) else CapturedImage.from_pixels(image)

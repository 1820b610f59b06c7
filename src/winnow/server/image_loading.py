"""Turning one :class:`ImageInput` into a checked :class:`CapturedImage`, decoded only when used."""

from __future__ import annotations

from collections.abc import Callable

from winnow.errors import PayloadTooLargeError
from winnow.images import CapturedImage, decode_base64
from winnow.server.inference_request import ImageInput, ImageKind


def image_bytes(item: ImageInput, *, fetch_url: Callable[[str], bytes], max_bytes: int) -> bytes:
    """The encoded bytes of the image: base64-decoded, downloaded (guarded) or as uploaded."""
    if item.kind is ImageKind.URL:
        return fetch_url(str(item.value))
    if item.kind is ImageKind.BASE64:
        text = item.value if isinstance(item.value, str) else item.value.decode("ascii", "replace")
        # base64 is 4/3 the size of its bytes; refuse before decoding a huge string.
        if len(text) * 3 // 4 > max_bytes:
            raise PayloadTooLargeError(f"image is over the upload limit of {max_bytes} bytes")
        data = decode_base64(text)
    else:
        data = item.value if isinstance(item.value, bytes) else item.value.encode()
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"image is over the upload limit of {max_bytes} bytes")
    return data


def load_image(
    item: ImageInput,
    *,
    fetch_url: Callable[[str], bytes],
    max_bytes: int,
    max_pixels: int,
    auto_orient: bool = True,
) -> CapturedImage:
    """One input image with its encoded bytes kept, checked now (``InvalidImageError``, 400,
    when it is not an accepted image or its header is over the pixel cap) and decoded
    when its pixels are first asked for (a JPEG; see :meth:`CapturedImage.from_bytes`)."""
    data = image_bytes(item, fetch_url=fetch_url, max_bytes=max_bytes)
    return CapturedImage.from_bytes(data, max_pixels=max_pixels, auto_orient=auto_orient)

"""Image functions: base64, decoding every format, orientation, pixel cap, resize, encode."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageOps

from winnow.errors import InvalidImageError
from winnow.images import (
    CapturedImage,
    decode_base64,
    decode_image,
    encode_jpeg,
    resize_to_fit,
    sha256_hex,
)

BIG = 10_000_000


def gradient(height: int = 48, width: int = 64) -> npt.NDArray[Any]:
    """An RGB image whose colour tells position: R grows with x, G with y, B constant."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = (xs * 255 // max(1, width - 1)).astype(np.uint8)
    image[..., 1] = (ys * 255 // max(1, height - 1)).astype(np.uint8)
    image[..., 2] = 90
    return image


def pil_bytes(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


# ----------------------------------------------------------------------------- base64


def test_decode_base64_accepts_data_url_prefix_whitespace_and_missing_padding() -> None:
    raw = b"\x00\x01hello winnow\xff"
    encoded = base64.b64encode(raw).decode()
    assert decode_base64(encoded) == raw
    assert decode_base64("data:image/jpeg;base64," + encoded) == raw
    assert decode_base64(" " + encoded[:8] + "\n" + encoded[8:] + "\r\n") == raw
    assert decode_base64(encoded.rstrip("=")) == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode()) == raw


@pytest.mark.parametrize(
    "value", ["", "   ", "not base64 at all!", "abc$def", "data:image/png;base64,"]
)
def test_decode_base64_rejects_garbage_with_a_clear_message(value: str) -> None:
    with pytest.raises(InvalidImageError, match="image is not valid base64") as info:
        decode_base64(value)
    assert info.value.status == 400


# ----------------------------------------------------------------------------- decode


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP", "TIFF"])
def test_lossless_formats_decode_to_the_exact_rgb_pixels(fmt: str) -> None:
    image = gradient()
    kwargs: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    data = pil_bytes(Image.fromarray(image), fmt, **kwargs)
    decoded = decode_image(data, max_pixels=BIG)
    assert decoded.dtype == np.uint8
    assert decoded.shape == (48, 64, 3)
    np.testing.assert_array_equal(decoded, image)


def test_jpeg_decodes_in_rgb_order() -> None:
    image = np.zeros((32, 40, 3), dtype=np.uint8)
    image[..., 0] = 250  # pure red: a BGR mix-up would show as blue
    decoded = decode_image(encode_jpeg(image, 95), max_pixels=BIG)
    assert decoded.shape == (32, 40, 3)
    assert decoded[..., 0].min() > 240
    assert decoded[..., 2].max() < 15


def test_gif_first_frame_is_decoded() -> None:
    first = Image.new("RGB", (20, 10), (255, 0, 0))
    second = Image.new("RGB", (20, 10), (0, 0, 255))
    data = pil_bytes(first, "GIF", save_all=True, append_images=[second])
    decoded = decode_image(data, max_pixels=BIG)
    assert decoded.shape == (10, 20, 3)
    assert tuple(decoded[5, 5]) == (255, 0, 0)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grayscale_becomes_rgb(fmt: str) -> None:
    gray = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (30, 1))
    data = pil_bytes(
        Image.fromarray(gray, mode="L"), fmt, **({"quality": 100} if fmt == "JPEG" else {})
    )
    decoded = decode_image(data, max_pixels=BIG)
    assert decoded.shape == (30, 50, 3)
    np.testing.assert_array_equal(decoded[..., 0], decoded[..., 1])
    assert abs(int(decoded[0, 20, 0]) - 100) <= 3


def test_rgba_png_drops_alpha_into_rgb() -> None:
    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    decoded = decode_image(pil_bytes(Image.fromarray(rgba, mode="RGBA"), "PNG"), max_pixels=BIG)
    assert decoded.shape == (10, 12, 3)
    assert tuple(decoded[3, 3]) == (0, 200, 0)


def test_cmyk_jpeg_falls_back_and_decodes() -> None:
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # red in CMYK
    decoded = decode_image(pil_bytes(cmyk, "JPEG", quality=95), max_pixels=BIG)
    assert decoded.shape == (8, 16, 3)
    assert decoded[4, 4, 0] > 200 and decoded[4, 4, 2] < 60


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_matches_pillow(orientation: int) -> None:
    base = Image.fromarray(gradient(24, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pil_bytes(base, "JPEG", quality=100, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    decoded = decode_image(data, max_pixels=BIG)
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= 8
    raw = decode_image(data, max_pixels=BIG, auto_orient=False)
    assert raw.shape == (24, 40, 3)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, not an image", b"\xff\xd8\xff\xe0 truncated jpeg", b"\x89PNG\r\n\x1a\n broken"],
)
def test_non_images_are_rejected_with_400(data: bytes) -> None:
    with pytest.raises(InvalidImageError, match="not a decodable image") as info:
        decode_image(data, max_pixels=BIG)
    assert info.value.status == 400


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_pixel_cap_is_checked_and_named(fmt: str) -> None:
    data = pil_bytes(Image.new("RGB", (300, 200)), fmt)
    assert decode_image(data, max_pixels=60_000).shape == (200, 300, 3)
    with pytest.raises(InvalidImageError, match=r"300x200 = 60000 pixels, the cap is 59999"):
        decode_image(data, max_pixels=59_999)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` but holds no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_pixel_cap_is_checked_from_the_header_before_decoding() -> None:
    # 100000x100000 would need 30 GB to decode: the header alone must refuse it.
    with pytest.raises(InvalidImageError, match="10000000000 pixels, the cap is 100000000"):
        decode_image(_png_header_only(100_000, 100_000), max_pixels=100_000_000)
    with pytest.raises(InvalidImageError, match="9000x9000 = 81000000 pixels, the cap is 1000000"):
        decode_image(_png_header_only(9_000, 9_000), max_pixels=1_000_000)
    jpeg = encode_jpeg(np.zeros((16, 16, 3), np.uint8), 80)
    sof = jpeg.index(b"\xff\xc0")  # baseline frame header: ..., height, width
    forged = jpeg[: sof + 5] + struct.pack(">HH", 60_000, 60_000) + jpeg[sof + 9 :]
    with pytest.raises(InvalidImageError, match="60000x60000"):
        decode_image(forged, max_pixels=100_000_000)


# ----------------------------------------------------------------------------- resize


def test_resize_keeps_aspect_and_fits_the_bound() -> None:
    image = np.zeros((600, 1000, 3), dtype=np.uint8)
    out = resize_to_fit(image, (300, 300))
    assert out.shape == (180, 300, 3)
    out = resize_to_fit(image, (100, 5000))
    assert out.shape == (100, 167, 3)


def test_resize_never_upscales_and_returns_the_same_object() -> None:
    image = np.zeros((50, 80, 3), dtype=np.uint8)
    assert resize_to_fit(image, (1200, 1200)) is image
    assert resize_to_fit(image, (50, 80)) is image
    assert resize_to_fit(image, None) is image


def test_resize_of_an_extreme_aspect_keeps_one_pixel() -> None:
    out = resize_to_fit(np.zeros((1, 4000, 3), dtype=np.uint8), (10, 100))
    assert out.shape == (1, 100, 3)


def test_resize_averages_with_inter_area() -> None:
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[::2, ::2] = 255  # a checkerboard of single pixels averages to a quarter
    out = resize_to_fit(image, (2, 2))
    assert out.shape == (2, 2, 3)
    assert np.all(np.abs(out.astype(int) - 64) <= 1)


@pytest.mark.parametrize("bound", [(675, 1200), (394, 700), (300, 300), (540, 960), (900, 1600)])
def test_fast_resize_stays_close_to_plain_inter_area_on_a_photo(bound: tuple[int, int]) -> None:
    from skimage import data

    photo = cv2.resize(data.astronaut(), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    out = resize_to_fit(photo, bound)
    reference = cv2.resize(photo, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
    assert out.shape[0] <= bound[0] and out.shape[1] <= bound[1]
    assert np.abs(out.astype(int) - reference.astype(int)).mean() < 2.5


# ----------------------------------------------------------------------------- encode, hash


def test_encode_jpeg_round_trips_and_quality_changes_size() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    low, high = encode_jpeg(image, 20), encode_jpeg(image, 95)
    assert low[:3] == b"\xff\xd8\xff"
    assert len(low) < len(high)
    assert decode_image(high, max_pixels=BIG).shape == (120, 160, 3)
    smooth = gradient(120, 160)
    back = decode_image(encode_jpeg(smooth, 95), max_pixels=BIG)
    assert np.abs(back.astype(int) - smooth.astype(int)).mean() < 3


def test_encode_jpeg_accepts_non_contiguous_views() -> None:
    view = gradient(40, 60)[:, ::-1]
    assert decode_image(encode_jpeg(view, 90), max_pixels=BIG).shape == (40, 60, 3)


@pytest.mark.parametrize("quality", [0, 101])
def test_encode_jpeg_rejects_out_of_range_quality(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(gradient(), quality)


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("data", [b"hello, not an image", b"%PDF-1.4", b"<svg/>"])
def test_unknown_formats_say_so_without_internals(data: bytes) -> None:
    with pytest.raises(InvalidImageError, match="unknown or unsupported image format") as info:
        decode_image(data, max_pixels=BIG)
    assert "BytesIO" not in info.value.message


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["SPIDER", "DDS", "QOI", "TGA", "PPM", "JPEG2000", "ICO", "EPS"])
def test_formats_outside_the_whitelist_are_refused_by_name(fmt: str) -> None:
    image = Image.fromarray(gradient(24, 32))
    data = pil_bytes(image.convert("F") if fmt == "SPIDER" else image, fmt)
    with pytest.raises(InvalidImageError, match=f"unsupported image format '{fmt}'; send JPEG"):
        decode_image(data, max_pixels=BIG)
    # Truncated ones too (issue 10's QOI): refused before any decoder, named when Pillow can.
    with pytest.raises(InvalidImageError, match="send JPEG, PNG, WebP, BMP, TIFF or GIF") as info:
        decode_image(data[: len(data) // 2], max_pixels=BIG)
    assert info.value.status == 400


def _png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        out.append((pos, length, kind))
        pos += 12 + length
    return out


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 0x80000000, "one-more"])
def test_png_chunk_lengths_over_the_data_are_refused_before_decoding(
    declared: int | str,
) -> None:
    data = bytearray(pil_bytes(Image.fromarray(gradient(24, 32)), "PNG"))
    pos, length, _kind = next(c for c in _png_chunks(bytes(data)) if c[2] == b"IDAT")
    value = length + len(data) if declared == "one-more" else declared
    struct.pack_into(">I", data, pos, value)
    with pytest.raises(InvalidImageError, match=f"PNG chunk 'IDAT' declares {value} bytes"):
        decode_image(bytes(data), max_pixels=BIG)


def test_truncated_png_and_webp_are_refused_by_their_declared_lengths() -> None:
    png = pil_bytes(Image.fromarray(gradient()), "PNG")
    with pytest.raises(InvalidImageError, match="PNG chunk 'IDAT' declares"):
        decode_image(png[: len(png) - 40], max_pixels=BIG)
    webp = pil_bytes(Image.fromarray(gradient()), "WEBP", lossless=True)
    with pytest.raises(InvalidImageError, match=f"WebP declares {len(webp)} bytes"):
        decode_image(webp[:-10], max_pixels=BIG)
    # Bytes after IEND are ignored, as every decoder does.
    assert decode_image(png + b"trailing", max_pixels=BIG).shape == (48, 64, 3)


def test_byte_cap_is_checked_before_decoding() -> None:
    from winnow.errors import PayloadTooLargeError

    data = pil_bytes(Image.fromarray(gradient()), "PNG")
    assert decode_image(data, max_pixels=BIG, max_bytes=len(data)).shape == (48, 64, 3)
    with pytest.raises(PayloadTooLargeError, match=f"{len(data)} bytes, over the limit of 100"):
        decode_image(data, max_pixels=BIG, max_bytes=100)


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("GIF", "image/gif"),
        ("QOI", "application/octet-stream"),
    ],
)
def test_mime_type_by_magic_bytes(fmt: str, mime: str) -> None:
    from winnow.image_formats import mime_type

    assert mime_type(pil_bytes(Image.fromarray(gradient()), fmt)) == mime


# ----------------------------------------------------------------------------- CapturedImage


def test_captured_jpeg_is_checked_now_and_decoded_on_first_use() -> None:
    jpeg = encode_jpeg(gradient(480, 640), 90)
    image = CapturedImage.from_bytes(jpeg, max_pixels=BIG)
    assert (image.width, image.height, image.format) == (640, 480, "JPEG")
    assert not image.decoded and image.original is jpeg
    pixels = image.pixels()
    assert image.decoded and image.pixels() is pixels
    assert (pixels == decode_image(jpeg, max_pixels=BIG)).all()


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"\xff\xd8\xff" + b"\x00" * 50, _png_header_only(100_000, 100_000)],
)
def test_captured_refuses_what_decode_image_refuses_before_decoding(data: bytes) -> None:
    with pytest.raises(InvalidImageError) as refused:
        CapturedImage.from_bytes(data, max_pixels=100_000_000)
    with pytest.raises(InvalidImageError) as decoded:
        decode_image(data, max_pixels=100_000_000)
    assert refused.value.message == decoded.value.message


def test_captured_jpeg_over_the_pixel_cap_is_refused_from_its_header() -> None:
    jpeg = encode_jpeg(gradient(300, 200), 80)
    with pytest.raises(InvalidImageError, match="200x300 = 60000 pixels"):
        CapturedImage.from_bytes(jpeg, max_pixels=59_999)


def test_a_jpeg_broken_after_its_header_fails_only_when_decoded() -> None:
    jpeg = encode_jpeg(np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8), 90)
    broken = jpeg[: len(jpeg) // 3]
    image = CapturedImage.from_bytes(broken, max_pixels=BIG)
    with pytest.raises(InvalidImageError):
        image.check_decodes()
    with pytest.raises(InvalidImageError):
        image.pixels()
    whole = CapturedImage.from_bytes(jpeg, max_pixels=BIG)
    assert whole.check_decodes() and not whole.decoded  # checked at 1/8 scale
    png = CapturedImage.from_bytes(pil_bytes(Image.fromarray(gradient()), "PNG"), max_pixels=BIG)
    assert png.check_decodes() is False  # decodes, but not as a JPEG


def test_captured_exif_rotation_gives_the_shown_size_and_is_remembered() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = pil_bytes(Image.fromarray(gradient(30, 40)), "JPEG", quality=95, exif=exif.tobytes())
    image = CapturedImage.from_bytes(data, max_pixels=BIG)
    assert (image.width, image.height, image.file_orientation) == (30, 40, 6)
    assert image.pixels().shape == (40, 30, 3)
    assert not image.original_decodes_as_pixels  # its bytes decode rotated elsewhere
    raw = CapturedImage.from_bytes(data, max_pixels=BIG, auto_orient=False)
    assert (raw.width, raw.height) == (40, 30) and raw.pixels().shape == (30, 40, 3)
    assert not raw.original_decodes_as_pixels
    plain = CapturedImage.from_bytes(encode_jpeg(gradient(30, 40), 90), max_pixels=BIG)
    assert plain.original_decodes_as_pixels


def test_other_formats_are_decoded_at_once() -> None:
    png = pil_bytes(Image.fromarray(gradient(30, 40)), "PNG")
    image = CapturedImage.from_bytes(png, max_pixels=BIG)
    assert image.decoded and image.format == "PNG" and not image.original_decodes_as_pixels
    assert image.pixels_at_least(1, 1)[1] == 1


@pytest.mark.parametrize(
    ("want", "denominator", "shape"),
    [
        ((1920, 1080), 1, (1080, 1920, 3)),
        ((961, 540), 1, (1080, 1920, 3)),
        ((960, 540), 2, (540, 960, 3)),
        ((400, 200), 4, (270, 480, 3)),
        ((240, 135), 8, (135, 240, 3)),
        ((1, 1), 8, (135, 240, 3)),
    ],
)
def test_pixels_at_least_picks_the_smallest_dct_scale_that_fits(
    want: tuple[int, int], denominator: int, shape: tuple[int, int, int]
) -> None:
    full = gradient(1080, 1920)
    image = CapturedImage.from_bytes(encode_jpeg(full, 95), max_pixels=BIG)
    pixels, used = image.pixels_at_least(*want)
    assert (used, pixels.shape) == (denominator, shape)
    assert image.decoded == (denominator == 1)  # a reduced decode is not kept
    # A reduced decode is a box-filtered view of the same picture.
    small = cv2.resize(full, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(pixels.astype(int) - small.astype(int)).mean() < 3

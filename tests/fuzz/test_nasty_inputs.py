"""Hand-picked hostile and odd inputs through the real app, on every image route.

Valid-but-odd images (GIF, 16-bit PNG, CMYK JPEG, 1x1, EXIF-rotated, alpha)
are served with the right size; broken or hostile ones (truncated JPEG, a
10^10-pixel PNG header, zero bytes, not an image) are 400 naming the
problem; image URLs aimed at this host, the metadata service or other
schemes are refused before any connection; odd JSON numbers and types are
400 naming the field.
"""

from __future__ import annotations

import base64

import pytest

from tests.factories import make_jpeg
from tests.fuzz import nasty_images as nasty
from tests.fuzz.image_routes import ROUTES, datapoint
from tests.fuzz.world import AUTH, KEY, World
from tests.server.asgi_client import ASGIClient

Target = tuple[ASGIClient, World]


BAD_IMAGES = {
    "truncated-jpeg": (nasty.truncated_jpeg, "truncated"),
    "png-bomb-header": (nasty.png_bomb_header, "too large: 10000000000 pixels"),
    "zero-bytes": (lambda: b"", "empty"),
    "text": (lambda: b"hello, world", "unknown or unsupported image format"),
}
ODD_IMAGES = {
    "gif": (nasty.gif, (40, 30)),
    "png-16bit": (nasty.png_16bit, (40, 30)),
    "cmyk-jpeg": (nasty.cmyk_jpeg, (40, 30)),
    "one-pixel": (nasty.one_pixel_png, (1, 1)),
    "exif-orientation-6": (nasty.exif_rotated_jpeg, (30, 40)),
    "rgba-png": (nasty.rgba_png, (40, 30)),
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_broken_and_hostile_images_are_400_naming_why(
    target: Target, route: str, name: str
) -> None:
    client, _world = target
    make, expected = BAD_IMAGES[name]
    response = ROUTES[route](client, make())
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert expected in message or (name == "zero-bytes" and "non-empty" in message), message


@pytest.mark.parametrize("name", list(ODD_IMAGES))
def test_odd_but_valid_images_are_served_at_their_size(target: Target, name: str) -> None:
    client, _world = target
    make, (width, height) = ODD_IMAGES[name]
    data = make()
    for route in ("v1", "legacy-multipart", "legacy-base64"):
        response = ROUTES[route](client, data)
        assert response.status_code == 200, (route, response.text)
        assert response.json()["image"] == {"width": width, "height": height}, route
    stored = datapoint(client, data)
    assert stored.status_code in (200, 201), stored.text
    details = client.get(f"/v1/images/{stored.json()['id']}", headers=AUTH).json()
    assert (details["width"], details["height"]) == (width, height), details


URLS = {
    "http://127.0.0.1/x.jpg": "loopback",
    "http://[::1]/x.jpg": "loopback",
    "http://169.254.169.254/latest/meta-data/": "metadata",
    "http://[::ffff:a9fe:a9fe]/": "metadata",
    "http://2130706433/": "loopback",
    "http://10.0.0.1/": "private",
    "http://user:pw@example.com/": "credentials",
    "file:///etc/passwd": "scheme 'file'",
    "gopher://127.0.0.1:6379/_INFO": "scheme 'gopher'",
    "http://example.com:99999/": "malformed",
}


@pytest.mark.parametrize("url", list(URLS))
def test_image_urls_to_forbidden_places_are_refused(target: Target, url: str) -> None:
    client, _world = target
    body = {"api_key": KEY, "model_id": "det/0", "image": {"type": "url", "value": url}}
    responses = [
        client.post("/infer/object_detection", json=body),
        client.post("/det/1", params={"api_key": KEY, "image": url}),
    ]
    for response in responses:
        assert response.status_code == 400, response.text
        assert URLS[url] in response.json()["message"], response.text


NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1" + "0" * 400, "-5", "1e30"]


@pytest.mark.parametrize("field", ["confidence", "iou_threshold", "keypoint_confidence"])
@pytest.mark.parametrize("number", NUMBERS)
def test_odd_json_numbers_are_400_naming_the_field(target: Target, field: str, number: str) -> None:
    client, _world = target
    image = base64.b64encode(make_jpeg(48, 32)).decode()
    raw = (
        f'{{"api_key": "{KEY}", "model_id": "det/1", '
        f'"image": {{"type": "base64", "value": "{image}"}}, "{field}": {number}}}'
    )
    response = client.post("/infer/object_detection", content=raw.encode())
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    "raw",
    [b'{"api_key": "\xff\xfe"}', b"\xff\xd8\xff", "é".encode("latin-1"), b"\x00" * 8],
    ids=["invalid-utf8-in-string", "jpeg-magic", "latin-1", "nul-bytes"],
)
def test_non_utf8_json_bodies_are_400(target: Target, raw: bytes) -> None:
    client, _world = target
    for method, path in (
        ("POST", "/infer/object_detection"),
        ("POST", "/v1/projects"),
        ("PUT", "/v1/projects/det/al-config"),
        ("POST", "/model/add"),
    ):
        response = client.request(method, path, content=raw, headers=AUTH)
        assert response.status_code == 400, (path, response.text)
        assert "JSON" in response.json()["message"], (path, response.text)


@pytest.mark.parametrize("name", list(ODD_IMAGES))
def test_odd_images_decode_to_the_pixels_pillow_sees(name: str) -> None:
    # Served at the right size is not enough: the pixels must be right too (RGB order,
    # CMYK converted, 16 bits scaled to 8, EXIF applied).
    import io

    import numpy as np
    from PIL import Image, ImageOps

    from winnow.images import decode_image

    data = ODD_IMAGES[name][0]()
    ours = decode_image(data, max_pixels=10**8).astype(np.int32)
    with Image.open(io.BytesIO(data)) as opened:
        reference = ImageOps.exif_transpose(opened)
        if reference.mode == "I;16":
            gray = (np.asarray(reference).astype(np.uint32) >> 8).astype(np.int32)
            expected = np.stack([gray] * 3, axis=-1)
        else:
            expected = np.asarray(reference.convert("RGB")).astype(np.int32)
    assert ours.shape == expected.shape
    assert float(np.abs(ours - expected).mean()) < 2.0

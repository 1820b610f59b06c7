"""The stub answers without decoding pixels, yet every body that is not an image is still a 400.

An image is checked when the request arrives (format from magic bytes, declared
lengths, header size against the pixel cap) and decoded only when something
needs its pixels: a real model, or collection of a datapoint that won its
budget. A JPEG whose data is broken past its header is then served by the stub
(200) and its collection fails, counted (``winnow_datapoints{outcome="failed"}``:
the capture cannot be prepared), never seen by the client. A collected
JPEG that needs no work is stored as it was sent.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.apps import SpyCollector, drain, make_project, project_images
from tests.factories import AUTH, KEY, al_config, make_jpeg, make_png
from tests.fuzz.nasty_images import png_bomb_header, png_idat_length_bomb
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.images import decode_image
from winnow.settings import Settings

NOT_IMAGES = {
    "text": b"hello, this is not an image at all",
    "jpeg magic then garbage": b"\xff\xd8\xff" + b"\x00garbage" * 20,
    "refused format": b"BZh91AY&SY" + b"\x00" * 64,
    "png bomb header": png_bomb_header(),
    "png idat length bomb": png_idat_length_bomb(),
}
EXPECTED = {
    "text": "not a decodable image",
    "jpeg magic then garbage": "not a decodable image",
    "refused format": "not a decodable image",
    "png bomb header": "image is too large",
    "png idat length bomb": "PNG chunk 'IDAT' declares 4294967295 bytes",
}


def broken_after_header() -> bytes:
    """A 640x480 JPEG whose header is intact and whose scan data stops a third of the way."""
    data = make_jpeg(640, 480, quality=90)
    return data[: len(data) // 3]


def post_stub(client: ASGIClient, data: bytes, how: str) -> tuple[int, str]:
    if how == "v1":
        body = {"api_key": KEY, "model_id": "cars/0", "image": {"type": "base64", "value": ""}}
        body["image"]["value"] = base64.b64encode(data).decode()  # type: ignore[index]
        response = client.post("/infer/object_detection", json=body)
    elif how == "legacy-base64":
        response = client.post(
            f"/cars/0?api_key={KEY}",
            content=base64.b64encode(data),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        response = client.post(
            f"/cars/0?api_key={KEY}", files={"file": ("x.jpg", data, "image/jpeg")}
        )
    message = response.json().get("message", "") if response.status_code != 200 else ""
    return response.status_code, message


@pytest.mark.parametrize("how", ["v1", "legacy-base64", "legacy-multipart"])
@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
def test_a_body_that_is_not_an_image_is_400_even_for_the_stub(
    client: ASGIClient, spy: SpyCollector, name: str, how: str
) -> None:
    status, message = post_stub(client, NOT_IMAGES[name], how)
    assert status == 400, message
    assert EXPECTED[name] in message
    assert spy.calls == []


@pytest.mark.parametrize("how", ["v1", "legacy-base64", "legacy-multipart"])
def test_the_stub_answers_a_jpeg_without_decoding_it(
    client: ASGIClient, spy: SpyCollector, how: str
) -> None:
    status, message = post_stub(client, make_jpeg(640, 480), how)
    assert status == 200, message
    [(image, _prediction, _context)] = spy.calls
    assert image.format == "JPEG" and (image.width, image.height) == (640, 480)
    assert not image.decoded  # nothing decoded the pixels on the request's path
    assert image.pixels().shape == (480, 640, 3)  # collection still can


def test_the_stub_answers_a_jpeg_broken_after_its_header(
    client: ASGIClient, spy: SpyCollector
) -> None:
    status, message = post_stub(client, broken_after_header(), "v1")
    assert status == 200, message
    assert not spy.calls[0][0].decoded


def test_a_real_model_still_refuses_a_jpeg_broken_after_its_header(client: ASGIClient) -> None:
    body = {
        "api_key": KEY,
        "model_id": "cars/1",
        "image": {"type": "base64", "value": base64.b64encode(broken_after_header()).decode()},
    }
    response = client.post("/infer/object_detection", json=body)
    assert response.status_code == 400, response.text
    assert "not a decodable image" in response.json()["message"]


@pytest.fixture
def full(settings: Settings) -> Iterator[ASGIClient]:
    with ASGIClient(create_app(settings)) as app_client:
        make_project(app_client, "cars", "object-detection", al_config())
        yield app_client


def outcomes_counted(client: ASGIClient, project: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("winnow_datapoints_total{") and f'project="{project}"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def stub_v1(client: ASGIClient, data: bytes) -> int:
    body = {
        "api_key": KEY,
        "model_id": "cars/0",
        "image": {"type": "base64", "value": base64.b64encode(data).decode()},
    }
    return client.post("/infer/object_detection", json=body).status_code


def test_a_jpeg_broken_after_its_header_is_served_then_counted_as_a_collection_error(
    full: ASGIClient,
) -> None:
    assert stub_v1(full, broken_after_header()) == 200
    drain(full.app)
    # The capture is prepared by delivery: its decode fails there, counted as failed.
    outcomes = outcomes_counted(full, "cars")
    assert outcomes.get("failed") == 1.0, outcomes
    assert project_images(full, "cars") == []
    # The next good image is collected as usual.
    assert stub_v1(full, make_jpeg(64, 48, seed=3)) == 200
    drain(full.app)
    assert len(project_images(full, "cars")) == 1


def stored_file(client: ASGIClient, image_id: str) -> bytes:
    response = client.get(f"/v1/images/{image_id}/file", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.content


def test_a_collected_jpeg_that_needs_no_work_is_stored_as_sent(full: ASGIClient) -> None:
    sent = make_jpeg(640, 480, seed=5, quality=80)  # not the configured quality (95)
    assert stub_v1(full, sent) == 200
    drain(full.app)
    [image] = project_images(full, "cars")
    stored = stored_file(full, image["id"])
    assert stored == sent
    served = decode_image(sent, max_pixels=10**8)
    assert (decode_image(stored, max_pixels=10**8) == served).all()


def test_a_png_is_encoded_as_jpeg_when_collected(full: ASGIClient) -> None:
    assert stub_v1(full, make_png(40, 30)) == 200
    drain(full.app)
    [image] = project_images(full, "cars")
    stored = stored_file(full, image["id"])
    assert stored[:3] == b"\xff\xd8\xff"
    assert decode_image(stored, max_pixels=10**8).shape == (30, 40, 3)

"""Every bad input gets a 4xx with a message naming what is wrong, and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from tests.apps import platform_app
from tests.factories import KEY, make_jpeg, make_png, new_project
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.datapoint import DatapointMetadata
from winnow.errors import BadRequestError, InvalidImageError
from winnow.images import encode_jpeg
from winnow.platform import store
from winnow.platform.service import Platform
from winnow.platform.store import check_image

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def cars(sqlite_platform: Platform) -> Iterator[ASGIClient]:
    """A client on a SQLite platform with project ``cars`` (input checks are database-blind)."""
    with ASGIClient(platform_app(sqlite_platform)) as client:
        client.post("/v1/projects", headers=AUTH, json={"name": "cars", "type": "object-detection"})
        yield client


def upload(client: ASGIClient, image: bytes, query: str = "batch=b") -> tuple[int, str]:
    response = client.post(
        f"/dataset/cars/upload?api_key={KEY}&{query}",
        data={"name": "x.jpg"},
        files={"file": ("imageToUpload", image, "image/jpeg")},
    )
    return response.status_code, response.json()["message"] if response.status_code >= 400 else ""


def stored(client: ASGIClient) -> int:
    return len(client.get("/v1/projects/cars/images", headers=AUTH).json()["images"])


def test_corrupt_and_non_images_are_400(cars: ASGIClient) -> None:
    truncated = make_jpeg(200, 200)[:300]
    assert upload(cars, truncated)[0] == 400
    status, message = upload(cars, b"GIF89a this is not really an image at all")
    assert status == 400 and "image" in message
    status, message = upload(cars, b"%PDF-1.4 hello")
    assert status == 400 and "not a decodable image" in message
    assert stored(cars) == 0


def test_png_is_accepted(cars: ASGIClient) -> None:
    assert upload(cars, make_png())[0] == 200


def test_oversize_upload_is_413(cars: ASGIClient) -> None:
    big = b"\xff\xd8\xff" + b"\x00" * 2_100_000  # over the fixture's 2 MB cap
    status, message = upload(cars, big)
    assert status == 413 and "limit" in message


def test_pixel_bomb_is_refused(cars: ASGIClient, sqlite_platform: Platform) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    assert len(data) < 2_000_000
    # Settings are frozen: hand the platform a copy with a small pixel cap.
    sqlite_platform.settings = sqlite_platform.settings.model_copy(
        update={"max_image_pixels": 1_000_000}
    )
    status, message = upload(cars, data)
    assert status == 400 and "too large" in message


def test_bad_tag_is_400(cars: ASGIClient) -> None:
    status, message = upload(cars, make_jpeg(), "batch=b&tag=ok&tag=bad%20tag%21")
    assert status == 400 and "bad tag!" in message
    status, message = upload(cars, make_jpeg(), "batch=b&tag=" + "x" * 65)
    assert status == 400 and "1-64" in message
    assert stored(cars) == 0


def test_missing_file_and_wrong_content_type(cars: ASGIClient) -> None:
    response = cars.post(f"/dataset/cars/upload?api_key={KEY}&batch=b", data={"name": "x.jpg"})
    assert response.status_code == 400 and "file" in response.json()["message"]
    response = cars.post(f"/dataset/cars/upload?api_key={KEY}&batch=b", content=b"raw")
    assert response.status_code == 400 and "multipart" in response.json()["message"]


def test_unknown_project_is_404(cars: ASGIClient) -> None:
    response = cars.post(
        f"/dataset/boats/upload?api_key={KEY}&batch=b",
        files={"file": ("imageToUpload", make_jpeg(), "image/jpeg")},
    )
    assert response.status_code == 404 and "boats" in response.json()["message"]


def test_malformed_annotations_are_400(cars: ASGIClient) -> None:
    image_id = cars.post(
        f"/dataset/cars/upload?api_key={KEY}&batch=b",
        files={"file": ("imageToUpload", make_jpeg(), "image/jpeg")},
    ).json()["id"]
    base = f"/dataset/cars/annotate/{image_id}?api_key={KEY}&prediction=true"
    cases = [
        ("&name=a.json", b"{not json", "not valid JSON"),
        ("&name=a.txt", b"car", ".json annotation"),
        (
            "&name=a.json",
            json.dumps({"image": {"width": 1, "height": 1}, "predictions": [{"x": "a"}]}).encode(),
            "predictions[0]",
        ),
        ("&name=a.xml", b"<xml/>", ".json or .txt"),
        ("&name=a.json", b"", "empty"),
        ("&name=a.json", b'{"a":' * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
        ("&name=a.json", b"[" * 3000 + b"]" * 3000, "nested too deeply"),
    ]
    for query, body, expected in cases:
        response = cars.post(base + query, content=body, headers={"Content-Type": "text/plain"})
        assert response.status_code == 400, (query, response.text)
        assert expected in response.json()["message"], response.json()
    assert (
        cars.post(
            f"/dataset/cars/annotate/999999?api_key={KEY}&name=a.json", content=b"{}"
        ).status_code
        == 404
    )


def test_bad_datapoint_metadata_is_400(cars: ASGIClient) -> None:
    def post(meta: object, prediction: str | None = None) -> str:
        data = {"metadata": meta if isinstance(meta, str) else json.dumps(meta)}
        if prediction is not None:
            data["prediction"] = prediction
        response = cars.post(
            "/v1/projects/cars/datapoints",
            headers=AUTH,
            data=data,
            files={"file": ("x.jpg", make_jpeg(), "image/jpeg")},
        )
        assert response.status_code == 400, response.text
        message: str = response.json()["message"]
        return message

    assert post({"tags": []}).startswith("metadata.batch")
    assert post({"batch": "b", "tags": "x"}).startswith("metadata.tags")
    assert post({"batch": "b", "config_version": "3"}).startswith("metadata.config_version")
    assert post("{oops").startswith("metadata: not valid JSON")
    assert post({"batch": "b"}, prediction="[1]").startswith("prediction")
    # the write path's one validation names the fields of the metadata part
    assert post({"batch": "b\u0007"}).startswith("metadata.batch: name 'b\\x07' must be 1-256")
    assert post({"batch": "b", "tags": ["ok", "no spaces"]}).startswith(
        "metadata.tag: 'no spaces' must be 1-64 characters"
    )
    assert post({"batch": "b", "model_id": "m" * 129}) == (
        "metadata.model_id: must be a string of at most 128 characters without control characters"
    )
    assert post({"batch": "b", "name": "n" * 257}).startswith(
        "metadata.name: must be a string of at most 256"
    )
    assert stored(cars) == 0


def test_the_reference_upload_names_its_own_parameters(cars: ASGIClient) -> None:
    assert upload(cars, make_jpeg(), "batch=b&tag=no%20spaces") == (
        400,
        "tag: 'no spaces' must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @",
    )
    assert upload(cars, make_jpeg(), "batch=b%07")[1].startswith("batch: name 'b\\x07'")
    assert stored(cars) == 0


def test_extra_that_is_not_json_is_refused_before_anything_is_stored(
    sqlite_platform: Platform,
) -> None:
    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "cars", workspace=workspace)
    bad = DatapointMetadata(batch_name="b", extra={"frame_time": float("nan")})
    with pytest.raises(BadRequestError, match=r"^extra: must hold JSON values only"):
        sqlite_platform.register(
            workspace=workspace, project="cars", data=make_jpeg(), datapoint=bad
        )
    with sqlite_platform.db.read() as session:
        project = store.get_project(session=session, workspace=workspace, name="cars")
        assert store.list_batches(session=session, project=project) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("x", "NaN"), ("width", "Infinity"), ("confidence", "-Infinity"), ("y", "1e999")],
)
def test_non_finite_prediction_numbers_are_400_naming_them(
    cars: ASGIClient, field: str, value: str
) -> None:
    box = {"x": 10, "y": 12, "width": 8, "height": 6, "confidence": 0.9, "class": "car"}
    text = json.dumps({"image": {"width": 64, "height": 48}, "predictions": [box]})
    text = text.replace(f'"{field}": {json.dumps(box[field])}', f'"{field}": {value}')
    response = cars.post(
        "/v1/projects/cars/datapoints",
        headers=AUTH,
        data={"metadata": json.dumps({"batch": "b"}), "prediction": text},
        files={"file": ("x.jpg", make_jpeg(), "image/jpeg")},
    )
    assert response.status_code == 400, response.text
    assert f"predictions[0].{field}: must be a finite number" in response.json()["message"]
    assert stored(cars) == 0


def test_bad_listing_parameters_are_400(cars: ASGIClient) -> None:
    assert cars.get("/v1/projects/cars/images?limit=0", headers=AUTH).status_code == 400
    assert cars.get("/v1/projects/cars/images?limit=abc", headers=AUTH).status_code == 400
    assert cars.get("/v1/projects/cars/images?cursor=zz", headers=AUTH).status_code == 400
    # str.isdigit() is true for these, yet int() refuses them (a ValueError, once a 500)
    for odd in ("9" * 5000, "\u00b2", "1\u00b9"):
        listing = cars.get("/v1/projects/cars/images", params={"cursor": odd}, headers=AUTH)
        assert listing.status_code == 400 and "cursor" in listing.json()["message"], odd
        image = cars.get(f"/v1/images/{odd}", headers=AUTH)
        assert image.status_code == 404 and "not found" in image.json()["message"], odd
        model = cars.post(
            "/v1/models",
            headers=AUTH,
            data={"model_id": f"cars/{odd}"},
            files={"file": ("m.onnx", b"\x08\x01onnx", "application/octet-stream")},
        )
        assert model.status_code == 400 and "model_id" in model.json()["message"], odd
    assert cars.get("/v1/projects/cars/images?status=done", headers=AUTH).status_code == 400
    response = cars.post("/v1/projects", headers=AUTH, content=b"not json")
    assert response.status_code == 400 and "JSON" in response.json()["message"]


def test_oversize_json_and_annotation_bodies_are_413(cars: ASGIClient) -> None:
    big = json.dumps({"config": {"x": "y" * 2_000_000}})
    response = cars.post(
        f"/default/cars/active_learning?api_key={KEY}",
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and "limit" in response.json()["message"]
    response = cars.post(
        f"/dataset/cars/annotate/1?api_key={KEY}&name=a.json", content=b"x" * 9_000_000
    )
    assert response.status_code == 413


def test_trusted_jpeg_is_sized_from_its_header_and_untrusted_bytes_are_decoded() -> None:
    jpeg = encode_jpeg(np.zeros((30, 50, 3), dtype=np.uint8), 90)
    trusted = check_image(jpeg, max_bytes=10**6, max_pixels=10**6, trusted=True)
    assert (trusted.width, trusted.height) == (50, 30)
    assert trusted.content_type == "image/jpeg"
    # a truncated JPEG has a readable header but no pixels: only a full decode catches it
    broken = jpeg[:40]
    with pytest.raises(InvalidImageError):
        check_image(broken, max_bytes=10**6, max_pixels=10**6)
    # trusted only skips the decode for JPEGs; anything else is still decoded and checked
    with pytest.raises(InvalidImageError):
        check_image(b"not an image", max_bytes=10**6, max_pixels=10**6, trusted=True)

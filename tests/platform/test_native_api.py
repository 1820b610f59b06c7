"""winnow's native /v1 API: projects, datapoints, listings, AL config with ETag, models."""

from __future__ import annotations

import json
from typing import Any

from tests.factories import AL_CONFIG, KEY, make_detections_json, make_jpeg
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.config import config_json_schema

AUTH = {"Authorization": f"Bearer {KEY}"}


def post_datapoint(
    client: ASGIClient, meta: dict[str, Any], image: bytes, prediction: dict[str, Any] | None = None
) -> Any:
    data = {"metadata": json.dumps(meta)}
    if prediction is not None:
        data["prediction"] = json.dumps(prediction)
    return client.post(
        "/v1/projects/cars/datapoints",
        headers=AUTH,
        data=data,
        files={"file": ("dp.jpg", image, "image/jpeg")},
    )


def create_cars(client: ASGIClient) -> None:
    response = client.post(
        "/v1/projects", headers=AUTH, json={"name": "cars", "type": "object-detection"}
    )
    assert response.status_code == 201, response.text


def test_projects_create_list_get(client: ASGIClient) -> None:
    create_cars(client)
    assert (
        client.post(
            "/v1/projects", headers=AUTH, json={"name": "cars", "type": "object-detection"}
        ).status_code
        == 409
    )
    bad = client.post("/v1/projects", headers=AUTH, json={"name": "x", "type": "nope"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("type:")
    assert [p["name"] for p in client.get("/v1/projects", headers=AUTH).json()["projects"]] == [
        "cars"
    ]
    assert client.get("/v1/projects/cars", headers=AUTH).json()["type"] == "object-detection"
    assert client.get("/v1/projects/nope", headers=AUTH).status_code == 404


def test_datapoint_registered_with_provenance_and_idempotent(client: ASGIClient) -> None:
    create_cars(client)
    meta = {
        "batch": "al_2026_11_28",
        "tags": ["x", "y"],
        "strategy": "rand",
        "model_id": "cars/2",
        "inference_id": "i-1",
        "source": "http",
        "config_version": 3,
        "idempotency_key": "idem-1",
    }
    first = post_datapoint(
        client,
        meta,
        make_jpeg(seed=1),
        make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]),
    )
    assert first.status_code == 201, first.text
    again = post_datapoint(
        client,
        meta,
        make_jpeg(seed=1),
        make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]),
    )
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "duplicate": False, "replayed": True}
    details = client.get(f"/v1/images/{first.json()['id']}", headers=AUTH).json()
    assert details["strategy"] == "rand" and details["config_version"] == 3
    assert details["annotations"][0]["body"] == make_detections_json(
        [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
    )
    images = client.get("/v1/projects/cars/images", headers=AUTH).json()["images"]
    assert len(images) == 1
    file = client.get(f"/v1/images/{first.json()['id']}/file", headers=AUTH)
    assert file.content == make_jpeg(seed=1) and file.headers["content-type"] == "image/jpeg"


def test_images_listing_filters_and_cursor(client: ASGIClient) -> None:
    create_cars(client)
    for seed in range(5):
        meta = {"batch": "b1" if seed < 3 else "b2", "tags": [f"t{seed % 2}"], "strategy": "s"}
        assert post_datapoint(client, meta, make_jpeg(seed=seed)).status_code == 201
    page = client.get("/v1/projects/cars/images?limit=2", headers=AUTH).json()
    ids = [i["id"] for i in page["images"]]
    while page["next_cursor"]:
        page = client.get(
            f"/v1/projects/cars/images?limit=2&cursor={page['next_cursor']}", headers=AUTH
        ).json()
        ids += [i["id"] for i in page["images"]]
    assert len(ids) == len(set(ids)) == 5
    assert len(client.get("/v1/projects/cars/images?batch=b2", headers=AUTH).json()["images"]) == 2
    assert len(client.get("/v1/projects/cars/images?tag=t0", headers=AUTH).json()["images"]) == 3
    assert (
        len(
            client.get("/v1/projects/cars/images?status=unlabeled&strategy=s", headers=AUTH).json()[
                "images"
            ]
        )
        == 5
    )
    batches = client.get("/v1/projects/cars/batches", headers=AUTH).json()["batches"]
    assert [(b["name"], b["images"]) for b in batches] == [("b1", 3), ("b2", 2)]


def test_al_config_etag_and_versions(client: ASGIClient) -> None:
    create_cars(client)
    empty = client.get("/v1/projects/cars/al-config", headers=AUTH)
    assert empty.json()["config"] == {"enabled": False} and empty.json()["version"] is None
    saved = client.request("PUT", "/v1/projects/cars/al-config", headers=AUTH, json=AL_CONFIG)
    assert saved.json()["version"] == 1
    current = client.get("/v1/projects/cars/al-config", headers=AUTH)
    assert current.json()["config"] == AL_CONFIG and current.json()["version"] == 1
    etag = current.headers["etag"]
    not_modified = client.get(
        "/v1/projects/cars/al-config", headers={**AUTH, "If-None-Match": etag}
    )
    assert not_modified.status_code == 304
    weak = client.get(
        "/v1/projects/cars/al-config", headers={**AUTH, "If-None-Match": f'"9", W/{etag}'}
    )
    assert weak.status_code == 304
    client.request(
        "PUT", "/v1/projects/cars/al-config", headers=AUTH, json=dict(AL_CONFIG, enabled=False)
    )
    changed = client.get("/v1/projects/cars/al-config", headers={**AUTH, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    versions = client.get("/v1/projects/cars/al-config/versions", headers=AUTH).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["created_by"] == KEY[:6]


def test_model_versions_routes(client: ASGIClient) -> None:
    create_cars(client)
    response = client.post(
        "/v1/models",
        headers=AUTH,
        data={
            "model_id": "cars/1",
            "class_names": json.dumps(["car", "bus"]),
            "metadata": json.dumps({"epochs": 3}),
        },
        files={"file": ("model.onnx", b"\x08\x01onnx", "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["model_id"] == "cars/1" and info["class_names"] == ["car", "bus"]
    assert info["task_type"] == "object-detection" and info["metadata"] == {"epochs": 3}
    assert [m["model_id"] for m in client.get("/v1/models", headers=AUTH).json()["models"]] == [
        "cars/1"
    ]
    assert client.get("/v1/models/cars/1", headers=AUTH).json()["sha256"] == info["sha256"]
    assert client.get("/v1/models/cars/1/file", headers=AUTH).content == b"\x08\x01onnx"
    assert client.get("/v1/models/cars/2", headers=AUTH).status_code == 404
    bad = client.post(
        "/v1/models", headers=AUTH, data={"model_id": "cars"}, files={"file": ("m", b"x")}
    )
    assert bad.status_code == 400 and "model_id" in bad.json()["message"]


def test_openapi_document_lists_the_routes(client: ASGIClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/projects/{project}/datapoints" in paths
    assert "/dataset/{project}/upload" in paths
    body = paths["/v1/projects/{project}/datapoints"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file", "metadata"]
    upload = paths["/dataset/{project}/upload"]["post"]["requestBody"]["content"]
    assert set(upload["multipart/form-data"]["schema"]["properties"]) == {
        "file",
        "name",
        "metadata",
    }


def test_out_of_range_ids_are_404_not_500(client: ASGIClient) -> None:
    create_cars(client)
    huge = "9" * 20
    assert client.get(f"/v1/images/{huge}", headers=AUTH).status_code == 404
    assert client.get(f"/v1/images/{2**31}/file", headers=AUTH).status_code == 404
    assert client.get("/v1/images/-1", headers=AUTH).status_code == 404
    assert client.get(f"/v1/models/cars/{2**40}", headers=AUTH).status_code == 404
    assert client.get(f"/v1/projects/cars/images?cursor={huge}", headers=AUTH).status_code == 400
    response = client.post(
        f"/dataset/cars/annotate/{huge}?api_key={KEY}&name=a.json", content=b"{}"
    )
    assert response.status_code == 404


def test_nul_and_control_characters_are_4xx_on_every_database(client: ASGIClient) -> None:
    create_cars(client)
    meta = {"batch": "b", "strategy": "s\u0000"}
    response = post_datapoint(client, meta, make_jpeg())
    assert response.status_code == 400 and response.json()["message"].startswith(
        "metadata.strategy"
    )
    response = client.post(
        f"/dataset/cars/upload?api_key={KEY}&batch=b",
        data={"name": "x\u0000.jpg"},
        files={"file": ("imageToUpload", make_jpeg(), "image/jpeg")},
    )
    assert response.status_code == 400 and response.json()["message"].startswith("name")
    assert client.get("/v1/projects/ca%00rs", headers=AUTH).status_code == 404
    assert client.get("/default/ca%00rs?api_key=" + KEY).status_code == 404
    assert client.get("/v1/projects/cars/images?tag=a%00", headers=AUTH).status_code == 400
    assert client.get("/v1/projects/cars/images?batch=a%00", headers=AUTH).status_code == 400
    image_id = post_datapoint(client, {"batch": "b"}, make_jpeg(seed=3)).json()["id"]
    response = client.post(
        f"/dataset/cars/annotate/{image_id}?api_key={KEY}&name=a.json",
        content=b'{"image": {"width": 1, "height": 1}, "predictions": [], "x": "\x00"}',
    )
    assert response.status_code == 400


def test_config_json_schema_is_published(client: ASGIClient) -> None:
    response = client.get("/v1/al-config/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema == config_json_schema()
    assert "sampling_strategies" in schema["properties"]

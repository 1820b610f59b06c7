"""A key of one workspace reaches nothing of another: every route answers 404."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.apps import platform_app
from tests.factories import AL_CONFIG, KEY, make_detections_json, make_jpeg, workspace_with_key
from tests.server.asgi_client import ASGIClient
from winnow.platform.service import Platform

# Routes that name no resource of a workspace (they act on the caller's own workspace).
UNSCOPED = {
    ("GET", "/"),
    ("GET", "/v1/al-config/schema"),
    ("POST", "/inference-stats"),
    ("POST", "/usage/inference"),
    ("GET", "/usage/plan"),
    ("POST", "/{ws}/inference-stats"),
    ("POST", "/{ws}/inference-stats/metadata"),
    ("GET", "/v1/projects"),
    ("POST", "/v1/projects"),
    ("GET", "/v1/models"),
}


def test_every_route_hides_another_workspaces_resources(
    client: ASGIClient, platform: Platform
) -> None:
    own = {"Authorization": f"Bearer {KEY}"}
    client.post("/v1/projects", headers=own, json={"name": "cars", "type": "object-detection"})
    client.request("PUT", "/v1/projects/cars/al-config", headers=own, json=AL_CONFIG)
    image_id = client.post(
        "/v1/projects/cars/datapoints",
        headers=own,
        data={"metadata": json.dumps({"batch": "b"})},
        files={"file": ("x.jpg", make_jpeg(), "image/jpeg")},
    ).json()["id"]
    client.post(
        "/v1/models", headers=own, data={"model_id": "cars/1"}, files={"file": ("m.onnx", b"onnx")}
    )

    _other, foreign = workspace_with_key(platform, "intruder")
    bearer = {"Authorization": f"Bearer {foreign}"}
    q = f"api_key={foreign}"
    jpeg = {"file": ("imageToUpload", make_jpeg(seed=3), "image/jpeg")}
    text = {"Content-Type": "text/plain"}
    attempts: dict[tuple[str, str], Callable[[], httpx.Response]] = {
        ("GET", "/{ws}/{project}"): lambda: client.get(f"/default/cars?{q}"),
        ("GET", "/{ws}/{project}/active_learning"): lambda: client.get(
            f"/default/cars/active_learning?{q}"
        ),
        ("POST", "/{ws}/{project}/active_learning"): lambda: client.post(
            f"/default/cars/active_learning?{q}", json={"config": AL_CONFIG}
        ),
        ("GET", "/{ws}/{project}/batches"): lambda: client.get(f"/default/cars/batches?{q}"),
        ("GET", "/{ws}/{project}/jobs"): lambda: client.get(f"/default/cars/jobs?{q}"),
        ("POST", "/dataset/{project}/upload"): lambda: client.post(
            f"/dataset/cars/upload?{q}&batch=b", data={"name": "x.jpg"}, files=jpeg
        ),
        ("POST", "/dataset/{project}/annotate/{image_id}"): lambda: client.post(
            f"/dataset/cars/annotate/{image_id}?{q}&name=x.json&prediction=true",
            content=json.dumps(
                make_detections_json(
                    [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
                )
            ).encode(),
            headers=text,
        ),
        ("GET", "/v1/projects/{project}"): lambda: client.get("/v1/projects/cars", headers=bearer),
        ("POST", "/v1/projects/{project}/datapoints"): lambda: client.post(
            "/v1/projects/cars/datapoints",
            headers=bearer,
            data={"metadata": json.dumps({"batch": "b"})},
            files={"file": ("x.jpg", make_jpeg(seed=4), "image/jpeg")},
        ),
        ("GET", "/v1/projects/{project}/batches"): lambda: client.get(
            "/v1/projects/cars/batches", headers=bearer
        ),
        ("GET", "/v1/projects/{project}/images"): lambda: client.get(
            "/v1/projects/cars/images", headers=bearer
        ),
        ("GET", "/v1/images/{image_id}"): lambda: client.get(
            f"/v1/images/{image_id}", headers=bearer
        ),
        ("GET", "/v1/images/{image_id}/file"): lambda: client.get(
            f"/v1/images/{image_id}/file", headers=bearer
        ),
        ("GET", "/v1/projects/{project}/al-config"): lambda: client.get(
            "/v1/projects/cars/al-config", headers=bearer
        ),
        ("PUT", "/v1/projects/{project}/al-config"): lambda: client.request(
            "PUT", "/v1/projects/cars/al-config", headers=bearer, json=AL_CONFIG
        ),
        ("GET", "/v1/projects/{project}/al-config/versions"): lambda: client.get(
            "/v1/projects/cars/al-config/versions", headers=bearer
        ),
        ("POST", "/v1/models"): lambda: client.post(
            "/v1/models",
            headers=bearer,
            data={"model_id": "cars/2"},
            files={"file": ("m.onnx", b"x")},
        ),
        ("DELETE", "/v1/models/{project}/{version}"): lambda: client.request(
            "DELETE", "/v1/models/cars/1", headers=bearer
        ),
        ("GET", "/v1/models/{project}/{version}"): lambda: client.get(
            "/v1/models/cars/1", headers=bearer
        ),
        ("GET", "/v1/models/{project}/{version}/file"): lambda: client.get(
            "/v1/models/cars/1/file", headers=bearer
        ),
    }
    paths = platform_app(platform).openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert routes - UNSCOPED == set(attempts), "a route is missing from the isolation test"
    for (method, path), attempt in attempts.items():
        response = attempt()
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert "message" in response.json()

    # Listing routes show nothing of the other workspace.
    assert client.get("/v1/projects", headers=bearer).json() == {"projects": []}
    assert client.get("/v1/models", headers=bearer).json() == {"models": []}
    assert client.get(f"/?{q}").json() == {"workspace": "intruder"}
    # Same project name in the intruder's workspace still cannot reach the image by id.
    client.post("/v1/projects", headers=bearer, json={"name": "cars", "type": "object-detection"})
    response = client.post(
        f"/dataset/cars/annotate/{image_id}?{q}&name=x.json",
        content=json.dumps(
            make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"])
        ).encode(),
        headers=text,
    )
    assert response.status_code == 404
    # Nothing of the owner changed.
    versions = client.get("/v1/projects/cars/al-config/versions", headers=own).json()["versions"]
    assert len(versions) == 1
    assert len(client.get(f"/v1/images/{image_id}", headers=own).json()["annotations"]) == 0
    assert client.get("/v1/models/cars/1/file", headers=own).content == b"onnx"

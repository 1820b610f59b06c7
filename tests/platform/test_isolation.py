"""A key or web session of one workspace reaches nothing of another: every route answers 404.

The routes come from the whole role-``all`` app (``create_app``): inference,
web UI, export and platform routes, those left out of the OpenAPI document
included. A route added without an attempt here fails the test.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.apps import ship_predictions
from tests.factories import (
    AL_CONFIG,
    KEY,
    make_detections_json,
    make_jpeg,
    v1_body,
    workspace_with_key,
)
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.platform.service import Platform
from winnow.predlog.query import read_records
from winnow.settings import Settings

DETECTIONS = make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"])

# Routes that name no resource of a workspace: they act on the caller's own workspace
# (or on this process's model cache for the caller's key), or hold no workspace data.
UNSCOPED = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/info"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/model/registry"),
    ("POST", "/model/remove"),
    ("POST", "/model/clear"),
    ("GET", "/app/login"),
    ("POST", "/app/login"),
    ("POST", "/app/logout"),
    ("GET", "/app/"),
    ("POST", "/app/projects"),
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
    # Stores a segment under the caller's own workspace only; records naming another
    # workspace are refused (403: tests/predlog/test_routes.py).
    ("PUT", "/v1/prediction-segments/{name}"),
}


@pytest.fixture
def whole_app(tmp_path: Path, db_url: str) -> Iterator[tuple[FastAPI, ASGIClient, Platform]]:
    """A started role-``all`` app on ``db_url`` (https, so the session cookie is kept)."""
    settings = Settings(
        data_dir=tmp_path / "app", api_key=KEY, database_url=db_url, max_upload_bytes=2_000_000
    )
    app = create_app(settings)
    with ASGIClient(app, base_url="https://127.0.0.1") as client:
        yield app, client, app.state.platform


def every_route(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app matches, in or out of the OpenAPI document."""
    return {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
        if method != "HEAD"
    }


def zip_files(response: httpx.Response) -> list[bytes]:
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return [archive.read(name) for name in archive.namelist()]


def _empty_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("train/_annotations.coco.json", "{}")
    return out.getvalue()


def test_every_route_hides_another_workspaces_resources(
    whole_app: tuple[FastAPI, ASGIClient, Platform],
) -> None:
    app, client, platform = whole_app
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
    # One served prediction of the owner, its record shipped to the platform.
    served = client.post(
        "/infer/object_detection", json=v1_body("cars/0", disable_active_learning=True)
    )
    assert served.status_code == 200, served.text
    ship_predictions(app)
    (record,) = read_records(platform.predictions.records, workspace="default").to_pylist()
    inference_id = record["inference_id"]

    _other, foreign = workspace_with_key(platform, "intruder")
    bearer = {"Authorization": f"Bearer {foreign}"}
    q = f"api_key={foreign}"
    jpeg = {"file": ("imageToUpload", make_jpeg(seed=3), "image/jpeg")}
    text = {"Content-Type": "text/plain"}
    signed_in = client.post("/app/login", data={"api_key": foreign}, follow_redirects=False)
    assert signed_in.status_code == 303  # the intruder's session cookie is on the client now
    attempts: dict[tuple[str, str], Callable[[], httpx.Response]] = {
        **inference_attempts(client, foreign),
        **web_attempts(client, image_id),
        ("GET", "/v1/predictions/{inference_id}"): lambda: client.get(
            f"/v1/predictions/{inference_id}", headers=bearer
        ),
        ("GET", "/app/predictions"): lambda: client.get(
            f"/app/predictions?inference_id={inference_id}"
        ),
        ("GET", "/v1/projects/{project}/export"): lambda: client.get(
            "/v1/projects/cars/export?status=unlabeled", headers=bearer
        ),
        ("GET", "/v1/projects/{project}/evaluation"): lambda: client.get(
            "/v1/projects/cars/evaluation", headers=bearer
        ),
        ("GET", "/v1/projects/{project}/evaluation/compare"): lambda: client.get(
            "/v1/projects/cars/evaluation/compare?a=cars/1&b=cars/2", headers=bearer
        ),
        ("GET", "/v1/projects/{project}/yield"): lambda: client.get(
            "/v1/projects/cars/yield", headers=bearer
        ),
        ("POST", "/v1/projects/{project}/evaluations"): lambda: client.post(
            "/v1/projects/cars/evaluations",
            headers=bearer,
            json={"model_id": "cars/1", "batches": ["b"]},
        ),
        ("GET", "/v1/projects/{project}/evaluations/{job_id}"): lambda: client.get(
            "/v1/projects/cars/evaluations/1", headers=bearer
        ),
        ("POST", "/v1/projects/{project}/backtest"): lambda: client.post(
            "/v1/projects/cars/backtest", headers=bearer, json={"config": AL_CONFIG}
        ),
        ("POST", "/v1/projects/{project}/import"): lambda: client.post(
            "/v1/projects/cars/import",
            headers=bearer,
            data={"format": "coco"},
            files={"file": ("d.zip", _empty_zip(), "application/zip")},
        ),
        ("PATCH", "/v1/projects/{project}/batches/{batch:path}"): lambda: client.request(
            "PATCH", "/v1/projects/cars/batches/b", headers=bearer, json={"held_out": True}
        ),
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
            content=json.dumps(DETECTIONS).encode(),
            headers=text,
        ),
        ("GET", "/v1/projects/{project}"): lambda: client.get("/v1/projects/cars", headers=bearer),
        ("POST", "/v1/projects/{project}/datapoints"): lambda: client.post(
            "/v1/projects/cars/datapoints",
            headers=bearer,
            data={"metadata": json.dumps({"batch": "b"})},
            files={"file": ("x.jpg", make_jpeg(seed=4), "image/jpeg")},
        ),
        ("POST", "/v1/projects/{project}/datapoints/batch"): lambda: client.post(
            "/v1/projects/cars/datapoints/batch",
            headers=bearer,
            data={"datapoints": json.dumps([{"metadata": {"batch": "b"}}])},
            files={"file0": ("x.jpg", make_jpeg(seed=5), "image/jpeg")},
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
        # The project is looked up in the key's workspace: 404, and nothing is written.
        ("PUT", "/v1/projects/{project}/shadow-counts"): lambda: client.request(
            "PUT",
            "/v1/projects/cars/shadow-counts",
            headers=bearer,
            json={
                "counts": [
                    {
                        "day": "2026-12-01",
                        "node": "n",
                        "model_id": "cars/2",
                        "runs": 5,
                        "disagreements": 1,
                    }
                ]
            },
        ),
        ("GET", "/v1/projects/{project}/shadow-counts"): lambda: client.get(
            "/v1/projects/cars/shadow-counts", headers=bearer
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
    assert every_route(app) - UNSCOPED == set(attempts), "a route is missing from the test"
    for (method, path), attempt in attempts.items():
        response = attempt()
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        if response.headers["content-type"].startswith("application/json"):
            assert "message" in response.json()
        else:  # a web page: the error page, naming what was not found
            assert "not found" in response.text

    # Listing routes show nothing of the other workspace.
    assert client.get("/v1/projects", headers=bearer).json() == {"projects": []}
    assert client.get("/v1/models", headers=bearer).json() == {"models": []}
    assert client.get(f"/?{q}").json() == {"workspace": "intruder"}
    # Same project name in the intruder's workspace still cannot reach the image by id.
    client.post("/v1/projects", headers=bearer, json={"name": "cars", "type": "object-detection"})
    response = client.post(
        f"/dataset/cars/annotate/{image_id}?{q}&name=x.json",
        content=json.dumps(DETECTIONS).encode(),
        headers=text,
    )
    assert response.status_code == 404
    # Nothing of the owner changed.
    versions = client.get("/v1/projects/cars/al-config/versions", headers=own).json()["versions"]
    assert len(versions) == 1
    assert client.get("/v1/projects/cars/shadow-counts", headers=own).json() == {"days": []}
    assert len(client.get(f"/v1/images/{image_id}", headers=own).json()["annotations"]) == 0
    assert client.get("/v1/models/cars/1/file", headers=own).content == b"onnx"
    check_export_across_workspaces(client, own, bearer)
    assert client.get(f"/v1/predictions/{inference_id}", headers=own).status_code == 200


def check_export_across_workspaces(
    client: ASGIClient, own: dict[str, str], bearer: dict[str, str]
) -> None:
    """Each workspace's ``cars`` exports its own image only, by key and from the web UI."""
    owner_jpeg, intruder_jpeg = make_jpeg(), make_jpeg(seed=7)
    client.post(
        "/v1/projects/cars/datapoints",
        headers=bearer,
        data={"metadata": json.dumps({"batch": "b"})},
        files={"file": ("x.jpg", intruder_jpeg, "image/jpeg")},
    )
    by_key = client.get("/v1/projects/cars/export?status=unlabeled", headers=bearer)
    from_web = client.get("/app/projects/cars/export.zip?status=unlabeled")  # intruder's cookie
    owners = client.get("/v1/projects/cars/export?status=unlabeled", headers=own)
    for response, mine, theirs in (
        (by_key, intruder_jpeg, owner_jpeg),
        (from_web, intruder_jpeg, owner_jpeg),
        (owners, owner_jpeg, intruder_jpeg),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["X-Winnow-Images"] == "1"
        files = zip_files(response)
        assert mine in files and theirs not in files


def inference_attempts(
    client: ASGIClient, key: str
) -> dict[tuple[str, str], Callable[[], httpx.Response]]:
    """The inference routes, asked for the owner's model ``cars/1`` with another key."""
    image = {"type": "base64", "value": base64.b64encode(make_jpeg(seed=5)).decode()}
    body = {"api_key": key, "model_id": "cars/1", "image": image}
    tasks = ("object_detection", "instance_segmentation", "classification", "keypoints_detection")

    def infer(task: str) -> Callable[[], httpx.Response]:
        return lambda: client.post(f"/infer/{task}", json=body)

    attempts = {("POST", f"/infer/{task}"): infer(task) for task in tasks}
    attempts[("POST", "/model/add")] = lambda: client.post(
        "/model/add", json={"api_key": key, "model_id": "cars/1"}
    )
    attempts[("POST", "/{project}/{version:int}")] = lambda: client.post(
        f"/cars/1?api_key={key}",
        content=image["value"].encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return attempts


def web_attempts(
    client: ASGIClient, image_id: str
) -> dict[tuple[str, str], Callable[[], httpx.Response]]:
    """The web UI's pages and endpoints, with the other workspace's session cookie."""
    config = {"config": AL_CONFIG}
    return {
        ("GET", "/app/projects/{project}"): lambda: client.get("/app/projects/cars"),
        ("GET", "/app/projects/{project}/config"): lambda: client.get("/app/projects/cars/config"),
        ("GET", "/app/projects/{project}/evaluation"): lambda: client.get(
            "/app/projects/cars/evaluation"
        ),
        ("GET", "/app/projects/{project}/batches/{batch:batch}"): lambda: client.get(
            "/app/projects/cars/batches/b"
        ),
        ("GET", "/app/projects/{project}/images/{image_id}"): lambda: client.get(
            f"/app/projects/cars/images/{image_id}"
        ),
        ("GET", "/app/images/{image_id}/file"): lambda: client.get(f"/app/images/{image_id}/file"),
        ("GET", "/app/images/{image_id}/thumb"): lambda: client.get(
            f"/app/images/{image_id}/thumb"
        ),
        ("POST", "/app/images/{image_id}/annotation"): lambda: client.post(
            f"/app/images/{image_id}/annotation", json={"objects": []}
        ),
        ("POST", "/app/images/{image_id}/status"): lambda: client.post(
            f"/app/images/{image_id}/status", json={"status": "rejected"}
        ),
        ("POST", "/app/projects/{project}/batches/{batch:batch}/review"): lambda: client.post(
            "/app/projects/cars/batches/b/review", data={"action": "accept"}
        ),
        ("POST", "/app/projects/{project}/batches/{batch:batch}/held-out"): lambda: client.post(
            "/app/projects/cars/batches/b/held-out", data={"held_out": "true"}
        ),
        ("POST", "/app/projects/{project}/config/validate"): lambda: client.post(
            "/app/projects/cars/config/validate", json=config
        ),
        ("POST", "/app/projects/{project}/config"): lambda: client.post(
            "/app/projects/cars/config", json=config
        ),
        ("POST", "/app/projects/{project}/config/dry-run"): lambda: client.post(
            "/app/projects/cars/config/dry-run", json=config
        ),
        ("GET", "/app/projects/{project}/export.zip"): lambda: client.get(
            "/app/projects/cars/export.zip?status=unlabeled"
        ),
    }

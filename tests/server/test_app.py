"""``create_app(settings)`` wired end to end in-process: platform, registry, collector, delivery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import drain, make_project
from tests.apps import project_images as images
from tests.factories import AUTH, KEY, al_config, make_jpeg_b64
from tests.factories import v1_body as body
from tests.server import onnx_models
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.outbox import EntryStatus
from winnow.app import StartupInfo, create_app
from winnow.errors import ConfigurationError
from winnow.platform.clients.config import CachedConfigSource
from winnow.settings import Settings


@pytest.fixture
def started() -> list[StartupInfo]:
    return []


@pytest.fixture
def app_client(settings: Settings, started: list[StartupInfo]) -> Iterator[ASGIClient]:
    with ASGIClient(create_app(settings, on_started=started.append)) as client:
        yield client


def test_role_all_serves_and_collects_into_the_platform(
    app_client: ASGIClient, started: list[StartupInfo], settings: Settings
) -> None:
    assert started[0].bootstrap_key == KEY
    assert started[0].data_dir == settings.data_dir
    make_project(app_client, "cars", "object-detection", al_config(tags=["t1"]))
    response = app_client.post("/infer/object_detection", json=body("cars/0"))
    assert response.status_code == 200, response.text
    assert response.json()["is_stub"] is True
    drain(app_client.app)
    (image,) = images(app_client, "cars")
    assert image["batch"] == "al"
    assert "t1" in image["tags"]
    assert image["model_id"] == "cars/0"
    assert image["source"] == "http"


def test_drain_decides_and_delivers_every_answered_request(app_client: ASGIClient) -> None:
    make_project(app_client, "cars", "object-detection", al_config())
    make_project(app_client, "idle", "object-detection", al_config(percentage=0.0))
    for i in range(4):
        image = {"type": "base64", "value": make_jpeg_b64(seed=i)}  # distinct: stored apart
        response = app_client.post("/infer/object_detection", json=body("cars/0", image=image))
        assert response.status_code == 200, response.text
        assert app_client.post("/infer/object_detection", json=body("idle/0")).status_code == 200
    drain(app_client.app)
    assert len(images(app_client, "cars")) == 4
    assert images(app_client, "idle") == []
    counts = app_client.app.state.runtime.collector.outbox.stats().counts
    assert counts[EntryStatus.DELIVERED] == 4
    assert counts[EntryStatus.PENDING] == counts[EntryStatus.DELIVERING] == 0


def test_platform_routes_are_not_shadowed_by_the_legacy_route(app_client: ASGIClient) -> None:
    assert app_client.post("/usage/inference", json={}).json() == {}
    assert app_client.get(f"/?api_key={KEY}").json() == {"workspace": "default"}
    make_project(app_client, "dogs", "classification", None)
    assert (
        app_client.get(f"/default/dogs?api_key={KEY}").json()["project"]["type"] == "classification"
    )
    legacy = app_client.post(
        f"/dogs/0?api_key={KEY}",
        content=body("x/0")["image"]["value"],
        headers={"Content-Type": "application/json"},
    )
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["task_type"] == "classification"


def test_registered_onnx_model_is_served_and_inference_id_travels(app_client: ASGIClient) -> None:
    make_project(app_client, "cars", "object-detection", al_config())
    added = app_client.post(
        "/v1/models",
        data={"model_id": "cars/1"},
        files={"file": ("m.onnx", onnx_models.end2end_detector(), "application/octet-stream")},
        headers=AUTH,
    )
    assert added.status_code == 201, added.text
    response = app_client.post("/infer/object_detection", json=body("cars/1", confidence=0.5))
    assert response.status_code == 200, response.text
    data = response.json()
    assert [p["class"] for p in data["predictions"]] == ["car"]
    drain(app_client.app)
    (image,) = images(app_client, "cars")
    assert image["inference_id"] == data["inference_id"]
    assert image["model_id"] == "cars/1"


def test_target_dataset_same_task_lands_cross_task_is_refused(app_client: ASGIClient) -> None:
    make_project(app_client, "cars", "object-detection", None)
    make_project(app_client, "trucks", "object-detection", al_config())
    make_project(app_client, "pets", "classification", al_config())
    app_client.post(
        "/v1/models",
        data={"model_id": "cars/1"},
        files={"file": ("m.onnx", onnx_models.end2end_detector(), "application/octet-stream")},
        headers=AUTH,
    )
    refused = app_client.post(
        "/infer/object_detection", json=body("cars/1", active_learning_target_dataset="pets")
    )
    assert refused.status_code == 200
    landed = app_client.post(
        "/infer/object_detection", json=body("cars/1", active_learning_target_dataset="trucks")
    )
    assert landed.status_code == 200
    drain(app_client.app)
    assert len(images(app_client, "trucks")) == 1
    assert images(app_client, "cars") == []
    assert images(app_client, "pets") == []
    refusals = [
        line
        for line in app_client.get("/metrics").text.splitlines()
        if line.startswith("winnow_datapoints_total{")
        and 'project="pets"' in line
        and 'outcome="refused"' in line
    ]
    assert len(refusals) == 1
    assert refusals[0].endswith(" 1.0")


def test_active_learning_switched_off_collects_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", api_key=KEY, active_learning_enabled=False)
    with ASGIClient(create_app(settings)) as client:
        make_project(client, "cars", "object-detection", al_config())
        assert client.post("/infer/object_detection", json=body("cars/0")).status_code == 200
        drain(client.app)
        assert images(client, "cars") == []
        assert "winnow_datapoints_total{" not in client.get("/metrics").text


def test_config_change_takes_effect_within_the_cache_time(
    app_client: ASGIClient, settings: Settings
) -> None:
    # The app's configuration cache runs on a clock the test moves, so "within
    # config_cache_seconds" is checked exactly instead of by polling the wall clock.
    cache = app_client.app.state.runtime.collector.config_source
    assert isinstance(cache, CachedConfigSource)
    now = [0.0]
    cache.clock = lambda: now[0]
    assert settings.config_cache_seconds <= 5.0
    make_project(app_client, "cars", "object-detection", al_config(percentage=0.0))
    # Prime the cache with the configuration that collects nothing.
    app_client.post("/infer/object_detection", json=body("cars/0"))
    drain(app_client.app)
    app_client.request("PUT", "/v1/projects/cars/al-config", json=al_config(), headers=AUTH)
    now[0] = settings.config_cache_seconds * 0.5
    app_client.post("/infer/object_detection", json=body("cars/0"))
    drain(app_client.app)
    assert images(app_client, "cars") == []  # still the cached configuration
    now[0] = settings.config_cache_seconds
    app_client.post("/infer/object_detection", json=body("cars/0"))
    drain(app_client.app)
    assert len(images(app_client, "cars")) == 1


def test_role_platform_serves_only_the_platform(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "p", api_key=KEY, role="platform")
    with ASGIClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["role"] == "platform"
        make_project(client, "cars", "object-detection", None)
        assert client.post("/infer/object_detection", json=body("cars/0")).status_code == 404
        legacy = client.post(
            f"/cars/0?api_key={KEY}", content=b"x", headers={"Content-Type": "application/json"}
        )
        assert legacy.status_code in (404, 405)


def test_role_inference_without_platform_url_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "i", api_key=KEY, role="inference")
    with pytest.raises(ConfigurationError, match="platform"), ASGIClient(create_app(settings)):
        pass


def test_web_ui_and_export_are_mounted(app_client: ASGIClient) -> None:
    login = app_client.get("/app/login")
    assert login.status_code == 200
    assert "text/html" in login.headers["content-type"]
    make_project(app_client, "cars", "object-detection", None)
    export = app_client.get("/v1/projects/cars/export?format=coco", headers=AUTH)
    assert export.status_code == 200, export.text
    assert export.content[:2] == b"PK"


def test_openapi_documents_the_inference_routes(app_client: ASGIClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    body_doc = paths["/infer/object_detection"]["post"]["requestBody"]
    assert "model_id" in body_doc["content"]["application/json"]["schema"]["properties"]
    assert "/{project}/{version}" in paths
    assert "/model/registry" in paths


def _datapoint_counts(client: ASGIClient, project: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("winnow_datapoints_total{") and f'project="{project}"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
    return counts


def test_a_full_batch_is_counted_apart_from_a_spent_strategy(app_client: ASGIClient) -> None:
    batching = {"batches_name_prefix": "al", "recreation_interval": "never", "max_batch_images": 2}
    make_project(app_client, "cars", "object-detection", al_config(batching_strategy=batching))
    for _ in range(5):
        assert app_client.post("/infer/object_detection", json=body("cars/0")).status_code == 200
    drain(app_client.app)
    # delivery-time outcomes left out: the same image twice is delivered once, then counted
    # as an exact duplicate (its place given back, after the other three were refused)
    delivery = ("delivered", "duplicate")
    counts = {k: v for k, v in _datapoint_counts(app_client, "cars").items() if k not in delivery}
    assert counts == {"sampled": 5.0, "queued": 2.0, "batch_full": 3.0}

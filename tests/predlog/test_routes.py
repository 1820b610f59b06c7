"""The prediction log end to end in role all: every outcome recorded, GET by inference id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.apps import make_project, ship_predictions
from tests.factories import AUTH, al_config, make_jpeg_b64
from tests.factories import v1_body as body
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.predlog.query import read_records
from winnow.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[ASGIClient]:
    with ASGIClient(create_app(settings)) as client:
        yield client


def infer(client: ASGIClient, model: str, seed: int = 0, **extra: Any) -> None:
    image = {"type": "base64", "value": make_jpeg_b64(seed=seed)}
    response = client.post("/infer/object_detection", json=body(model, image=image, **extra))
    assert response.status_code == 200, response.text


def records(client: ASGIClient) -> list[dict[str, Any]]:
    platform = client.app.state.platform
    table = read_records(platform.predictions.records, workspace="default")
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def limited_config() -> dict[str, Any]:
    config = al_config()
    config["sampling_strategies"][0]["limits"] = [{"type": "daily", "value": 1}]
    return config


def capped() -> dict[str, Any]:
    config = al_config()
    config["batching_strategy"]["max_batch_images"] = 1
    return config


def test_every_prediction_is_recorded_with_its_decision(client: ASGIClient) -> None:
    make_project(client, "cars", "object-detection", al_config())
    make_project(client, "idle", "object-detection", al_config(percentage=0.0))
    make_project(client, "off", "object-detection", {**al_config(), "enabled": False})
    make_project(client, "lim", "object-detection", limited_config())
    make_project(client, "cap", "object-detection", capped())
    infer(client, "cars/0", seed=1)
    infer(client, "idle/0")
    infer(client, "off/0")
    infer(client, "cars/0", seed=2, disable_active_learning=True)
    infer(client, "lim/0", seed=3)
    infer(client, "lim/0", seed=4)
    infer(client, "cap/0", seed=5)
    infer(client, "cap/0", seed=6)
    ship_predictions(client.app)
    rows = records(client)
    assert len(rows) == 8
    got = [(r["project"], r["outcome"], r["matched"], r["limited_by"], r["paid"]) for r in rows]
    assert got == [
        ("cars", "queued", ["rnd"], None, "rnd"),
        ("idle", "not_sampled", [], None, None),
        ("off", "disabled", [], None, None),
        ("cars", "disabled", [], None, None),
        ("lim", "queued", ["rnd"], None, "rnd"),
        ("lim", "limited", ["rnd"], "rnd:?", None),
        ("cap", "queued", ["rnd"], None, "rnd"),
        ("cap", "batch_full", ["rnd"], "batch", None),
    ]
    first = rows[0]
    assert first["task"] == "stub" and first["model_id"] == "cars/0"
    assert (first["width"], first["height"]) == (128, 64)
    assert first["source"] == "http" and first["workspace"] == "default"
    assert first["config_version"] == 1
    assert rows[3]["config_version"] is None  # the request switched collection off
    assert len({r["inference_id"] for r in rows}) == 8


def test_get_prediction_returns_the_record_and_the_collected_image(client: ASGIClient) -> None:
    make_project(client, "cars", "object-detection", al_config())
    make_project(client, "idle", "object-detection", al_config(percentage=0.0))
    infer(client, "cars/0")
    infer(client, "idle/0")
    ship_predictions(client.app)
    collected, skipped = records(client)
    (image,) = client.get("/v1/projects/cars/images", headers=AUTH).json()["images"]

    found = client.get(f"/v1/predictions/{collected['inference_id']}", headers=AUTH)
    assert found.status_code == 200, found.text
    record = found.json()
    assert record["outcome"] == "queued" and record["paid"] == "rnd"
    assert record["image_id"] == str(image["id"])
    assert record["time"].endswith("Z")

    other = client.get(f"/v1/predictions/{skipped['inference_id']}", headers=AUTH).json()
    assert other["outcome"] == "not_sampled" and other["image_id"] is None

    missing = client.get("/v1/predictions/no-such-id", headers=AUTH)
    assert missing.status_code == 404
    assert "no-such-id" in missing.json()["message"]
    assert client.get(f"/v1/predictions/{collected['inference_id']}").status_code == 401

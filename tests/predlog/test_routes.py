"""The prediction log end to end in role all: every outcome recorded, GET by inference id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.apps import drain, make_project, ship_predictions
from tests.factories import (
    AUTH,
    al_config,
    make_jpeg_b64,
    prediction_entry,
    prediction_segment,
    workspace_with_key,
)
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


def per_source_config() -> dict[str, Any]:
    config = al_config()
    config["sampling_strategies"][0]["limits"] = [{"type": "hourly", "value": 1, "per": "source"}]
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
    make_project(client, "src", "object-detection", per_source_config())
    infer(client, "cars/0", seed=1)
    infer(client, "idle/0")
    infer(client, "off/0")
    infer(client, "cars/0", seed=2, disable_active_learning=True)
    infer(client, "lim/0", seed=3)
    infer(client, "lim/0", seed=4)
    infer(client, "cap/0", seed=5)
    infer(client, "cap/0", seed=6)
    infer(client, "src/0", seed=7)
    infer(client, "src/0", seed=8)
    ship_predictions(client.app)
    rows = records(client)
    assert len(rows) == 10
    got = [(r["project"], r["outcome"], r["matched"], r["limited_by"], r["paid"]) for r in rows]
    # In time order; the pipeline's "disabled" record of the 4th request may come before
    # the collector's decisions on the ones before it (they wait in its queue).
    assert sorted(got, key=str) == sorted(
        [
            ("cars", "queued", ["rnd"], None, "rnd"),
            ("idle", "not_sampled", [], None, None),
            ("off", "disabled", [], None, None),
            ("cars", "disabled", [], None, None),
            ("lim", "queued", ["rnd"], None, "rnd"),
            ("lim", "limited", ["rnd"], "rnd:daily", None),
            ("cap", "queued", ["rnd"], None, "rnd"),
            ("cap", "batch_full", ["rnd"], "batch", None),
            ("src", "queued", ["rnd"], None, "rnd"),
            ("src", "limited", ["rnd"], "rnd:hourly:source", None),
        ],
        key=str,
    )
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    first = next(r for r in rows if r["project"] == "cars" and r["outcome"] == "queued")
    assert first["task"] == "stub" and first["model_id"] == "cars/0"
    assert (first["width"], first["height"]) == (128, 64)
    assert first["source"] == "http" and first["workspace"] == "default"
    assert first["config_version"] == 1
    by_request = next(r for r in rows if r["project"] == "cars" and r["outcome"] == "disabled")
    assert by_request["config_version"] is None  # the request switched collection off
    assert len({r["inference_id"] for r in rows}) == 10


def test_duplicates_and_refusals_are_recorded_too(client: ASGIClient) -> None:
    make_project(client, "dup", "object-detection", al_config(dedup={"enabled": True}))
    make_project(client, "away", "object-detection", al_config(target_workspace="elsewhere"))
    infer(client, "dup/0", seed=1)
    infer(client, "dup/0", seed=1)  # the same image again
    infer(client, "away/0")
    ship_predictions(client.app)
    got = [(r["project"], r["outcome"], r["matched"], r["paid"]) for r in records(client)]
    assert got == [
        ("dup", "queued", ["rnd"], "rnd"),
        ("dup", "duplicate", ["rnd"], None),
        ("away", "refused", [], None),
    ]


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


def put(client: ASGIClient, name: str, data: bytes, key: str) -> Any:
    return client.request(
        "PUT",
        f"/v1/prediction-segments/{name}",
        content=data,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/vnd.apache.parquet",
        },
    )


def test_segment_upload_is_idempotent_by_name_and_checked(client: ASGIClient) -> None:
    platform = client.app.state.platform
    _ws, intruder = workspace_with_key(platform, "intruder")
    key = AUTH["Authorization"].removeprefix("Bearer ")
    name, data = prediction_segment([prediction_entry("a1"), prediction_entry("a2")])

    first = put(client, name, data, key)
    assert (first.status_code, first.json()) == (201, {"name": name, "stored": True})
    again = put(client, name, data, key)
    assert (again.status_code, again.json()["stored"]) == (200, False)
    assert [r["inference_id"] for r in records(client)] == ["a1", "a2"]

    # Another workspace's key cannot put records into (or claim) this workspace.
    foreign = put(client, name.replace(".000001.", ".000002."), data, intruder)
    assert foreign.status_code == 403
    assert "another workspace" in foreign.json()["message"]
    got = client.get("/v1/predictions/a1", headers={"Authorization": f"Bearer {intruder}"})
    assert got.status_code == 404

    bad_name = put(client, "../x.parquet", data, key)
    assert bad_name.status_code in (400, 404)
    no_time = put(client, "n1.x.parquet", data, key)
    assert no_time.status_code == 400 and "start time" in no_time.json()["message"]
    not_parquet = put(client, name.replace(".000001.", ".000003."), b"PAR1 nope", key)
    assert not_parquet.status_code == 400
    assert "not a Parquet file" in not_parquet.json()["message"]
    assert len(records(client)) == 2


def test_a_failing_decisions_sink_changes_no_decision(client: ASGIClient) -> None:
    make_project(client, "cars", "object-detection", al_config())
    collector = client.app.state.runtime.collector

    def explode(*_args: object) -> None:
        raise RuntimeError("sink down")

    collector.decisions = explode
    infer(client, "cars/0")
    drain(client.app)
    assert len(client.get("/v1/projects/cars/images", headers=AUTH).json()["images"]) == 1
    errors = collector.metrics.registry.get_sample_value(
        "winnow_collection_errors_total", {"cause": "decisions:RuntimeError"}
    )
    assert errors == 1

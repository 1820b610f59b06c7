"""Shadow counts on the platform: the route keeps each node's totals, the overview shows the rate.

The whole-app test serves ``pets/1`` with ``pets/2`` as its shadow (two tiny
ONNX classifiers that disagree on mid-grey images) through ``create_app``:
the node's runner reports in-process, and the project overview and
``GET /v1/projects/{p}/shadow-counts`` show runs, disagreements and the rate.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.apps import drain, make_project
from tests.factories import AUTH, KEY
from tests.server.asgi_client import ASGIClient
from tests.server.onnx_models import threshold_classifier
from winnow.activelearning.platform_client import ShadowCount
from winnow.app import create_app
from winnow.errors import NotFoundError, ServiceUnavailableError
from winnow.images import encode_jpeg
from winnow.platform.clients import build_shadow_sink
from winnow.platform.clients.shadow import NativeHTTPShadowCountSink
from winnow.settings import Settings

TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.fixture
def client(settings: Settings) -> Iterator[ASGIClient]:
    with ASGIClient(create_app(settings), base_url="https://127.0.0.1") as app_client:
        yield app_client


def count(node: str, runs: int, disagreements: int, day: str = TODAY) -> dict[str, Any]:
    return {
        "day": day,
        "node": node,
        "model_id": "pets/2",
        "runs": runs,
        "disagreements": disagreements,
    }


def put(client: ASGIClient, *counts: dict[str, Any]) -> Any:
    return client.request(
        "PUT", "/v1/projects/pets/shadow-counts", json={"counts": list(counts)}, headers=AUTH
    )


def days(client: ASGIClient) -> list[dict[str, Any]]:
    response = client.get("/v1/projects/pets/shadow-counts", headers=AUTH)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["days"]
    return found


def test_each_node_keeps_its_largest_totals_and_the_day_sums_the_nodes(
    client: ASGIClient,
) -> None:
    make_project(client, "pets", "classification", None)
    assert put(client, count("a", 10, 2), count("b", 4, 4)).json() == {"recorded": 2}
    assert put(client, count("a", 10, 2)).status_code == 200  # the same report again
    assert put(client, count("a", 6, 1)).status_code == 200  # an older one, late
    assert days(client) == [
        {"day": TODAY, "model_id": "pets/2", "runs": 14, "disagreements": 6, "rate": 6 / 14}
    ]
    put(client, count("a", 20, 3), count("a", 8, 8, day="2000-01-01"))
    assert days(client)[0]["runs"] == 24  # and the day of 2000 is older than 14 days


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "counts: must be a list"),
        ({"counts": [1]}, "counts[0]: must be an object"),
        ({"counts": [{**count("a", 1, 0), "day": "2026-13-01"}]}, "counts[0].day: must be a date"),
        ({"counts": [{**count("a", 1, 0), "node": ""}]}, "counts[0].node: must be a string"),
        ({"counts": [count("a", -1, 0)]}, "counts[0].runs: must be an integer >= 0"),
        ({"counts": [count("a", 1, True)]}, "counts[0].disagreements: must be an integer"),
        ({"counts": [count("a", 1, 2)]}, "counts[0].disagreements: must not exceed runs"),
    ],
)
def test_bad_reports_get_a_400_naming_the_field(
    client: ASGIClient, body: dict[str, Any], message: str
) -> None:
    make_project(client, "pets", "classification", None)
    response = client.request("PUT", "/v1/projects/pets/shadow-counts", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert days(client) == []


def grey(level: int) -> dict[str, Any]:
    jpeg = encode_jpeg(np.full((48, 64, 3), level, np.uint8), 95)
    image = {"type": "base64", "value": base64.b64encode(jpeg).decode()}
    return {"api_key": KEY, "model_id": "pets/1", "image": image}


def test_a_served_shadow_is_counted_and_its_rate_shown_on_the_overview(
    client: ASGIClient,
) -> None:
    config = {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "never"},
        "shadow": {"model_id": "pets/2", "traffic_percentage": 1.0},
        "sampling_strategies": [{"name": "disagree", "type": "disagreement", "probability": 1.0}],
    }
    make_project(client, "pets", "classification", config)
    for version, threshold in ((1, 0.5), (2, 0.3)):
        added = client.post(
            "/v1/models",
            data={"model_id": f"pets/{version}"},
            files={"file": ("m.onnx", threshold_classifier(threshold), "application/octet-stream")},
            headers=AUTH,
        )
        assert added.status_code == 201, added.text
    for level in (100, 200, 110, 20):  # 100 and 110 (not the same bytes) disagree
        assert client.post("/infer/classification", json=grey(level)).status_code == 200
    drain(client.app)  # the shadow runs, then collection and delivery
    client.app.state.runtime.shadow.report()
    assert days(client) == [
        {"day": TODAY, "model_id": "pets/2", "runs": 4, "disagreements": 2, "rate": 0.5}
    ]
    images = client.get("/v1/projects/pets/images", headers=AUTH).json()["images"]
    assert [i["strategy"] for i in images] == ["disagree", "disagree"]
    signed_in = client.post("/app/login", data={"api_key": KEY}, follow_redirects=False)
    assert signed_in.status_code == 303
    page = client.get("/app/projects/pets").text
    assert 'id="shadow-rate"' in page
    assert f"<td>{TODAY}</td><td>pets/2</td>" in page
    assert "50.0%" in page


def test_the_http_sink_sends_the_counts_and_maps_errors() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "missing" in request.url.path:
            return httpx.Response(404, json={"message": "project 'missing' not found"})
        if "down" in request.url.path:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"recorded": 1})

    sink = NativeHTTPShadowCountSink("http://platform.test", transport=httpx.MockTransport(handler))
    counts = [ShadowCount(TODAY, "n1", "pets/2", 7, 3)]
    sink.report(KEY, "pets", counts)
    [request] = seen
    assert (request.method, request.url.path) == ("PUT", "/v1/projects/pets/shadow-counts")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {"counts": [count("n1", 7, 3)]}
    with pytest.raises(NotFoundError, match="missing"):
        sink.report(KEY, "missing", counts)
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        sink.report(KEY, "down", counts)
    sink.close()


def test_a_reference_platform_gets_no_counts(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, platform_url="http://ref.test", platform_protocol="reference"
    )
    assert build_shadow_sink(settings) is None
    native = Settings(data_dir=tmp_path, platform_url="http://n.test", platform_protocol="native")
    sink = build_shadow_sink(native)
    assert isinstance(sink, NativeHTTPShadowCountSink)
    sink.close()

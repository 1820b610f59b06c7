"""The fast lane answers stub v1 requests as the route would, and passes on everything else.

Once a key's lookups are cached, a stub request on base64 JPEGs is answered by
``InferenceFastLane`` without reaching FastAPI's routing: the same JSON, the
same metrics, collection after the response. Every other request (a real
model, a URL, a PNG, a bad body, a cold cache) reaches the route with its body
intact.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.apps import SpyCollector, inference_app, post_by_hand
from tests.factories import KEY, make_jpeg_b64, make_png, v1_body
from tests.server.asgi_client import ASGIClient
from winnow.server import v1_routes
from winnow.settings import Settings


def requests_counted(client: ASGIClient, route: str, status: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        wanted = f'route="{route}"' in line and f'status="{status}"' in line
        if line.startswith("winnow_requests_total{") and wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the v1 route handlers that ran (the fast lane runs none)."""
    calls: list[str] = []
    real = v1_routes.infer_v1

    async def spy(route: str, *args: Any) -> Any:
        calls.append(route)
        return await real(route, *args)

    monkeypatch.setattr(v1_routes, "infer_v1", spy)
    return calls


def test_a_warm_stub_request_skips_the_route_and_answers_the_same(
    client: ASGIClient, spy: SpyCollector, route_calls: list[str]
) -> None:
    cold = client.post("/infer/object_detection", json=v1_body("cars/0"))
    assert cold.status_code == 200, cold.text
    assert route_calls == ["object_detection"]  # caches were cold: the route served it
    warm = client.post("/infer/object_detection", json=v1_body("cars/0"))
    assert warm.status_code == 200, warm.text
    assert route_calls == ["object_detection"]  # the fast lane served this one
    assert warm.headers["content-type"] == "application/json"
    a, b = cold.json(), warm.json()
    assert a.keys() == b.keys() and a["is_stub"] is True
    assert {k: v for k, v in a.items() if k != "time"} == {
        k: v for k, v in b.items() if k != "time"
    }
    assert requests_counted(client, "/infer/object_detection", "200") == 2.0
    assert len(spy.calls) == 2  # both handed to the collector
    assert spy.calls[1][2].project == "cars" and spy.calls[1][2].model_id == "cars/0"


def test_a_list_of_stub_images_is_served_by_the_fast_lane_as_a_list(
    client: ASGIClient, spy: SpyCollector, route_calls: list[str]
) -> None:
    client.post("/infer/object_detection", json=v1_body("cars/0"))
    images = [{"type": "base64", "value": make_jpeg_b64(seed=i)} for i in range(3)]
    body = {"api_key": KEY, "model_id": "cars/0", "image": images}
    response = client.post("/infer/object_detection", json=body)
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list) and len(response.json()) == 3
    assert route_calls == ["object_detection"] and len(spy.calls) == 4


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (v1_body("cars/1"), 200),  # a real model: the route, in the thread pool
        (
            {"api_key": KEY, "model_id": "cars/0", "image": {"type": "base64", "value": "x"}},
            400,
        ),
        ({"api_key": KEY, "model_id": "cars/0"}, 400),
        ({"api_key": "nope", "model_id": "cars/0", "image": v1_body("cars/0")["image"]}, 401),
        (v1_body("cars/0", disable_active_learning="maybe"), 400),
    ],
)
def test_everything_else_reaches_the_route_with_its_body(
    client: ASGIClient, route_calls: list[str], body: dict[str, Any], status: int
) -> None:
    client.post("/infer/object_detection", json=v1_body("cars/0"))  # warm the caches
    response = client.post("/infer/object_detection", json=body)
    assert response.status_code == status, response.text
    assert route_calls == ["object_detection", "object_detection"]
    if status != 200:
        assert response.json()["message"]


def test_a_png_and_a_bad_json_body_reach_the_route(
    client: ASGIClient, route_calls: list[str]
) -> None:
    client.post("/infer/object_detection", json=v1_body("cars/0"))
    png = {"type": "base64", "value": base64.b64encode(make_png()).decode()}
    response = client.post(
        "/infer/object_detection", json={"api_key": KEY, "model_id": "cars/0", "image": png}
    )
    assert response.status_code == 200, response.text
    bad = client.post(
        "/infer/object_detection",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["message"]
    assert len(route_calls) == 3


def test_the_fast_lane_hands_off_to_the_collector_after_the_response(settings: Settings) -> None:
    events: list[str] = []
    spy = SpyCollector(events=events)
    app = inference_app(settings, spy)
    payload = json.dumps(v1_body("cars/0")).encode()

    half = len(payload) // 2
    real = json.dumps(v1_body("cars/1")).encode()
    bodies = [
        [payload],  # cold: the route
        [payload[:half], payload[half:]],  # warm: the fast lane, the body in two chunks
        [real[:half], real[half:]],  # a real model: the route, both chunks replayed
    ]
    post_by_hand(app, "/infer/object_detection", bodies, events)
    assert events == ["status 200", "response sent", "submit"] * 3


def test_a_body_over_the_cap_is_413_from_the_route(settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with ASGIClient(inference_app(small, SpyCollector())) as client:
        client.post(
            "/infer/object_detection",
            json={**v1_body("cars/0"), "image": {"type": "base64", "value": make_jpeg_b64(8, 8)}},
        )
        response = client.post("/infer/object_detection", json=v1_body("cars/0"))
    assert response.status_code == 413, response.text

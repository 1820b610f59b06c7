"""JSON nested past the parser's recursion limit is a 400 on every JSON route, never a 500.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) beyond ~1000
levels, so every place that parses a request body must name it.
"""

from __future__ import annotations

import pytest

from tests.factories import make_jpeg
from tests.fuzz.harness import BASE
from tests.fuzz.strategies import DEEP_JSON
from tests.fuzz.world import KEY, World
from tests.server.asgi_client import ASGIClient


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/infer/object_detection"),
        ("POST", "/infer/classification"),
        ("POST", "/model/add"),
        ("POST", "/dataset/det/annotate/1"),
        ("POST", "/v1/projects"),
        ("PUT", "/v1/projects/det/al-config"),
        ("POST", "/default/det/active_learning"),
        ("POST", "/app/images/1/annotation"),
        ("POST", "/app/projects/det/config/validate"),
    ],
)
@pytest.mark.parametrize("body", DEEP_JSON, ids=["array", "object"])
def test_deeply_nested_json_is_400(
    target: tuple[ASGIClient, World], method: str, path: str, body: bytes
) -> None:
    client, _world = target
    response = client.request(
        method,
        path,
        content=body,
        params={"api_key": KEY, "name": "a.json"},
        headers={"Content-Type": "application/json", "Origin": BASE},
    )
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["message"]


@pytest.mark.parametrize("part", ["metadata", "prediction"])
def test_deeply_nested_json_in_a_multipart_part_is_400(
    target: tuple[ASGIClient, World], part: str
) -> None:
    client, _world = target
    fields = {"metadata": '{"batch": "deep"}', part: DEEP_JSON[0].decode()}
    response = client.post(
        "/v1/projects/det/datapoints",
        params={"api_key": KEY},
        data=fields,
        files={"file": ("a.jpg", make_jpeg(48, 32, seed=7), "image/jpeg")},
    )
    assert response.status_code == 400, response.text
    assert part in response.json()["message"]

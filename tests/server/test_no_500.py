"""No input, however malformed, gets a 5xx: every bad request is a 4xx with a message."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.factories import KEY, make_jpeg_b64
from tests.server.asgi_client import ASGIClient

JPEG_B64 = make_jpeg_b64()
ROUTES = [
    "/infer/object_detection",
    "/infer/instance_segmentation",
    "/infer/classification",
    "/infer/keypoints_detection",
]

BAD_JSON_BODIES: list[Any] = [
    None,
    0,
    "string",
    [],
    [{"api_key": KEY}],
    {},
    {"api_key": None, "model_id": None, "image": None},
    {"api_key": 12, "model_id": "cars/0", "image": {"type": "base64", "value": JPEG_B64}},
    {"api_key": KEY, "model_id": 5, "image": {"type": "base64", "value": JPEG_B64}},
    {"api_key": KEY, "model_id": "cars/0/1", "image": {"type": "base64", "value": JPEG_B64}},
    {"api_key": KEY, "model_id": "../etc/0", "image": {"type": "base64", "value": JPEG_B64}},
    {"api_key": KEY, "model_id": "cars/-1", "image": {"type": "base64", "value": JPEG_B64}},
    {"api_key": KEY, "model_id": "cars/99999999999", "image": {"type": "base64", "value": "x"}},
    {"api_key": KEY, "model_id": "cars/1", "image": "not an object"},
    {"api_key": KEY, "model_id": "cars/1", "image": [None, 3]},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "base64", "value": 17}},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "base64", "value": ""}},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "base64", "value": "===="}},
    {
        "api_key": KEY,
        "model_id": "cars/1",
        "image": {"type": "base64", "value": "data:image/png;base64,AAAA"},
    },
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "url", "value": "not a url"}},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "url", "value": "http://[::1"}},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "url", "value": "http://:80/x"}},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "file", "value": "/etc/passwd"}},
    {"api_key": KEY, "model_id": "cars/1", "image": {"type": "pil", "value": "x"}},
    {
        "api_key": KEY,
        "model_id": "cars/1",
        "image": {"type": "base64", "value": base64.b64encode(b"\xff\xd8\xff\xe0broken").decode()},
    },
]
BAD_PARAMS: list[dict[str, Any]] = [
    {"confidence": -1},
    {"confidence": "0.5"},
    {"confidence": None, "iou_threshold": 7},
    {"max_detections": 1.5},
    {"max_detections": -3},
    {"max_candidates": "many"},
    {"class_filter": "car"},
    {"class_filter": [1, 2]},
    {"class_agnostic_nms": "perhaps"},
    {"mask_decode_mode": "magic"},
    {"keypoint_confidence": 2},
    {"disable_active_learning": [1]},
    {"active_learning_target_dataset": "has spaces"},
    {"visualize_predictions": {"a": 1}},
]


@pytest.mark.parametrize("route", ROUTES)
def test_malformed_v1_bodies_are_4xx(client: ASGIClient, route: str) -> None:
    for payload in BAD_JSON_BODIES:
        response = client.post(route, content=json.dumps(payload).encode())
        assert 400 <= response.status_code < 500, (payload, response.text)
        assert response.json()["message"], payload
    for params in BAD_PARAMS:
        payload = {
            "api_key": KEY,
            "model_id": "cars/1",
            "image": {"type": "base64", "value": JPEG_B64},
            **params,
        }
        response = client.post(route, json=payload)
        assert 400 <= response.status_code < 500, (params, response.text)
        assert response.json()["message"], params


@pytest.mark.parametrize(
    ("query", "headers", "content"),
    [
        ("", {"Content-Type": "application/json"}, JPEG_B64),
        (f"api_key={KEY}&confidence=abc", {"Content-Type": "application/json"}, JPEG_B64),
        (f"api_key={KEY}&overlap=-5", {"Content-Type": "application/json"}, JPEG_B64),
        (f"api_key={KEY}&max_detections=0", {"Content-Type": "application/json"}, JPEG_B64),
        (f"api_key={KEY}&format=png", {"Content-Type": "application/json"}, JPEG_B64),
        (
            f"api_key={KEY}&disable_active_learning=Maybe",
            {"Content-Type": "application/json"},
            JPEG_B64,
        ),
        (f"api_key={KEY}&image=ftp://x/y", {}, b""),
        (f"api_key={KEY}", {"Content-Type": "multipart/form-data"}, b"garbage"),
        (
            f"api_key={KEY}",
            {"Content-Type": "multipart/form-data; boundary=xyz"},
            b"--xyz\r\ngarbage",
        ),
        (f"api_key={KEY}", {"Content-Type": "application/json"}, b"\x00\x01\x02"),
        (f"api_key={KEY}", {"Content-Type": "application/json"}, "é".encode()),
    ],
)
def test_malformed_legacy_requests_are_4xx(
    client: ASGIClient, query: str, headers: dict[str, str], content: bytes | str
) -> None:
    response = client.post(f"/cars/1?{query}", content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("payload", "routes"),
    [
        # an empty body is a valid key-less /model/clear (as on the reference server)
        (b"", ("/model/add", "/model/remove")),
        (b"[]", ("/model/add", "/model/remove", "/model/clear")),
        (b"not json", ("/model/add", "/model/remove", "/model/clear")),
        (json.dumps({"model_id": ["x"], "api_key": KEY}).encode(), ("/model/add", "/model/remove")),
    ],
)
def test_malformed_model_route_bodies_are_4xx(
    client: ASGIClient, payload: bytes, routes: tuple[str, ...]
) -> None:
    for route in routes:
        response = client.post(route, content=payload)
        assert 400 <= response.status_code < 500, (route, response.text)
        assert response.json()["message"]


@pytest.mark.parametrize("route", [*ROUTES, "/model/add", "/model/remove", "/model/clear"])
def test_json_nested_too_deeply_is_400(client: ASGIClient, route: str) -> None:
    # json.loads raises RecursionError (not a ValueError) past ~1000 levels.
    for deep in (b"[" * 20_000 + b"]" * 20_000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        response = client.post(route, content=deep)
        assert response.status_code == 400, response.text
        assert "nested too deeply" in response.json()["message"]


@pytest.mark.parametrize("route", [*ROUTES, "/model/add"])
def test_json_integer_of_thousands_of_digits_is_400(client: ASGIClient, route: str) -> None:
    # Python refuses int() of over 4300 digits with a plain ValueError.
    response = client.post(route, content=b'{"api_key": "k", "confidence": ' + b"9" * 5000 + b"}")
    assert response.status_code == 400, response.text
    assert "not valid JSON" in response.json()["message"]

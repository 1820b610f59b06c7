"""Senders of one image to each route that decodes images: v1, legacy (two ways), upload, datapoint.

Shared by the hand-picked hostile inputs (``test_nasty_inputs``) and the
budget runs in a fresh process (``image_budget``); they aim at the seeded
fuzz world (:mod:`tests.fuzz.world`): model ``det/1``, project ``det``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from tests.fuzz.world import AUTH, KEY
from tests.server.asgi_client import ASGIClient


def v1(client: ASGIClient, data: bytes, model: str = "det/1") -> Any:
    """Inference through POST /infer/object_detection with the image as base64."""
    body = {"api_key": KEY, "model_id": model, "image": {"type": "base64", "value": ""}}
    body["image"]["value"] = base64.b64encode(data).decode()  # type: ignore[index]
    return client.post("/infer/object_detection", json=body)


def legacy_multipart(client: ASGIClient, data: bytes) -> Any:
    """Inference through the legacy route with a multipart ``file``."""
    return client.post(f"/det/1?api_key={KEY}", files={"file": ("x", data, "image/jpeg")})


def legacy_base64(client: ASGIClient, data: bytes) -> Any:
    """Inference through the legacy route with the raw base64 body."""
    return client.post(
        f"/det/1?api_key={KEY}",
        content=base64.b64encode(data),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def upload(client: ASGIClient, data: bytes) -> Any:
    """The reference upload route of the platform."""
    return client.post(
        f"/dataset/det/upload?api_key={KEY}", files={"file": ("x.jpg", data, "image/jpeg")}
    )


def datapoint(client: ASGIClient, data: bytes) -> Any:
    """The native datapoint route of the platform."""
    return client.post(
        "/v1/projects/det/datapoints",
        headers=AUTH,
        data={"metadata": json.dumps({"batch": "nasty"})},
        files={"file": ("x.jpg", data, "image/jpeg")},
    )


ROUTES: dict[str, Callable[[ASGIClient, bytes], Any]] = {
    "v1": v1,
    "legacy-multipart": legacy_multipart,
    "legacy-base64": legacy_base64,
    "upload": upload,
    "datapoint": datapoint,
}

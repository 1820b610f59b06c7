"""Inference never fails because of active learning: Redis down, outbox full, a broken config.

Each test serves real requests through ``create_app`` with one part of the
collection path broken, and checks that every prediction is answered
exactly as without collection while the cause is counted in ``/metrics``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import drain, make_project
from tests.apps import project_images as images
from tests.factories import AUTH, KEY, al_config
from tests.factories import v1_body as body
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.settings import Settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed as soon as the block ends


def _metric(client: ASGIClient, prefix: str) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def client_with(tmp_path: Path) -> Iterator[Callable[..., ASGIClient]]:
    clients: list[ASGIClient] = []

    def make(**overrides: Any) -> ASGIClient:
        settings = Settings(data_dir=tmp_path / "data", api_key=KEY, **overrides)
        client = ASGIClient(create_app(settings))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_redis_down_never_changes_a_response(client_with: Callable[..., ASGIClient]) -> None:
    client = client_with(limits_url=f"redis://127.0.0.1:{_closed_port()}/0")
    make_project(client, "cars", "object-detection", al_config())
    for _ in range(5):
        response = client.post("/infer/object_detection", json=body("cars/0"))
        assert response.status_code == 200, response.text
        assert response.json()["is_stub"] is True
    drain(client.app)
    assert _metric(client, 'winnow_collection_errors_total{cause="limits:') == 5
    assert images(client, "cars") == []  # no credit could be taken, so nothing was collected


def test_full_outbox_refuses_datapoints_not_requests(
    client_with: Callable[..., ASGIClient],
) -> None:
    client = client_with(outbox_max_bytes=10)
    make_project(client, "cars", "object-detection", al_config())
    for _ in range(3):
        response = client.post("/infer/object_detection", json=body("cars/0"))
        assert response.status_code == 200, response.text
    drain(client.app)
    assert _metric(client, 'winnow_datapoints_total{outcome="refused"') == 3
    assert _metric(client, 'winnow_collection_errors_total{cause="outbox_full"}') == 3
    assert images(client, "cars") == []


def test_an_unknown_target_dataset_is_logged_not_returned(
    client_with: Callable[..., ASGIClient],
) -> None:
    client = client_with()
    make_project(client, "cars", "object-detection", al_config())
    request = body("cars/0") | {"active_learning_target_dataset": "no-such-project"}
    response = client.post("/infer/object_detection", json=request)
    assert response.status_code == 200, response.text
    assert response.json()["is_stub"] is True
    drain(client.app)
    assert _metric(client, "winnow_collection_errors_total") == 1
    assert client.get("/v1/projects/cars", headers=AUTH).status_code == 200

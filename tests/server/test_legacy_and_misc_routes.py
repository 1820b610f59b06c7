"""Legacy ``POST /{project}/{version}`` variants, model registry routes, /info, /healthz, /metrics."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.apps import SpyCollector, inference_app
from tests.factories import KEY, make_jpeg_b64
from tests.server.asgi_client import ASGIClient
from winnow.settings import Settings

JPEG_B64 = make_jpeg_b64()
JPEG = base64.b64decode(JPEG_B64)
STUB_KEYS = {"time", "is_stub", "model_id", "task_type"}


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain"]
)
def test_legacy_raw_base64_body(client: ASGIClient, content_type: str) -> None:
    response = client.post(
        f"/cars/0?api_key={KEY}", content=JPEG_B64, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == STUB_KEYS
    assert response.json()["model_id"] == "cars/0"


def test_legacy_multipart_file(client: ASGIClient) -> None:
    response = client.post(
        f"/cars/1?api_key={KEY}&confidence=50", files={"file": ("x.jpg", JPEG, "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["image"] == {"width": 128, "height": 64}
    assert [p["class"] for p in data["predictions"]] == ["car"]


def test_legacy_confidence_percent_filters(client: ASGIClient) -> None:
    # The box scores 0.9: confidence=95 (percent) removes it, 0.5 keeps it.
    headers = {"Content-Type": "application/json"}
    high = client.post(f"/cars/1?api_key={KEY}&confidence=95", content=JPEG_B64, headers=headers)
    low = client.post(f"/cars/1?api_key={KEY}&confidence=0.5", content=JPEG_B64, headers=headers)
    assert high.json()["predictions"] == []
    assert len(low.json()["predictions"]) == 1


def test_legacy_format_image_returns_a_jpeg(client: ASGIClient) -> None:
    response = client.post(
        f"/cars/1?api_key={KEY}&format=image",
        content=JPEG_B64,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:3] == b"\xff\xd8\xff"


def test_legacy_python_style_false_collects_and_true_skips(
    client: ASGIClient, spy: SpyCollector
) -> None:
    headers = {"Content-Type": "application/json"}
    client.post(
        f"/cars/0?api_key={KEY}&disable_active_learning=False", content=JPEG_B64, headers=headers
    )
    assert len(spy.calls) == 1
    client.post(
        f"/cars/0?api_key={KEY}&disable_active_learning=True", content=JPEG_B64, headers=headers
    )
    assert len(spy.calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"content": JPEG_B64}, 400, "Content-Type"),
        ({"content": b"", "headers": {"Content-Type": "application/json"}}, 400, "empty"),
        ({"content": b"%%%%", "headers": {"Content-Type": "application/json"}}, 400, "base64"),
        (
            {
                "content": base64.b64encode(b"hello"),
                "headers": {"Content-Type": "application/json"},
            },
            400,
            "image",
        ),
        ({"files": {"other": ("x.jpg", JPEG, "image/jpeg")}}, 400, "file"),
    ],
)
def test_legacy_bad_inputs_are_4xx_with_a_message(
    client: ASGIClient, kwargs: dict[str, object], status: int, fragment: str
) -> None:
    response = client.post(f"/cars/0?api_key={KEY}", **kwargs)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]


def test_legacy_missing_key_is_401(client: ASGIClient) -> None:
    response = client.post(
        "/cars/0", content=JPEG_B64, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["message"]


def test_legacy_unknown_project_is_404(client: ASGIClient) -> None:
    response = client.post(
        f"/nope/0?api_key={KEY}", content=JPEG_B64, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


class _ImageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(JPEG)))
        self.end_headers()
        self.wfile.write(JPEG)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def image_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_legacy_image_url_refused_then_allowed(
    client: ASGIClient, image_server: int, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{image_server}/x.jpg"
    refused = client.post(f"/cars/0?api_key={KEY}&image={url}")
    assert refused.status_code == 400
    assert "loopback" in refused.json()["message"]
    settings = Settings(data_dir=tmp_path / "d2", api_key=KEY, url_fetch_allow_hosts="127.0.0.1")
    spy = SpyCollector()
    with ASGIClient(inference_app(settings, spy)) as allowed:
        response = allowed.post(f"/cars/1?api_key={KEY}&image={url}")
        assert response.status_code == 200, response.text
        assert response.json()["image"] == {"width": 128, "height": 64}
    assert spy.calls[0][0].pixels().shape == (64, 128, 3)


def test_model_registry_add_remove_clear(client: ASGIClient) -> None:
    assert client.get(f"/model/registry?api_key={KEY}").json() == {"models": []}
    added = client.post("/model/add", json={"model_id": "cars/1", "api_key": KEY})
    assert added.status_code == 200, added.text
    assert added.json()["models"] == [
        {
            "model_id": "cars/1",
            "task_type": "object-detection",
            "batch_size": 1,
            "input_height": 64,
            "input_width": 64,
        }
    ]
    stub = client.post(
        "/model/add", json={"model_id": "pets/0"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert {m["model_id"] for m in stub.json()["models"]} == {"cars/1", "pets/0"}
    removed = client.post("/model/remove", json={"model_id": "cars/1", "api_key": KEY})
    assert [m["model_id"] for m in removed.json()["models"]] == ["pets/0"]
    cleared = client.post("/model/clear", json={"api_key": KEY})
    assert cleared.json() == {"models": []}


def test_keyless_remove_and_clear_unload_like_the_reference_server(client: ASGIClient) -> None:
    # the inference-sdk sends no key for /model/remove and /model/clear in its default transport
    client.post("/model/add", json={"model_id": "cars/1", "api_key": KEY})
    client.post("/model/add", json={"model_id": "pets/0", "api_key": KEY})
    removed = client.post("/model/remove", json={"model_id": "cars/1"})
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"models": []}  # the caller's workspace is unknown: nothing listed
    listed = client.get(f"/model/registry?api_key={KEY}").json()["models"]
    assert [m["model_id"] for m in listed] == ["pets/0"]
    cleared = client.post("/model/clear")
    assert cleared.status_code == 200, cleared.text
    assert client.get(f"/model/registry?api_key={KEY}").json() == {"models": []}
    assert client.post("/model/remove", json={"model_id": "cars"}).status_code == 400


def test_model_routes_errors(client: ASGIClient) -> None:
    missing = client.post("/model/add", json={"model_id": "cars/9", "api_key": KEY})
    assert missing.status_code == 404
    assert "cars/9" in missing.json()["message"]
    assert client.post("/model/add", json={"model_id": "cars/1"}).status_code == 401
    assert client.get("/model/registry?api_key=bad").status_code == 401
    bad_id = client.post("/model/add", json={"model_id": "cars", "api_key": KEY})
    assert bad_id.status_code == 400
    assert "model_id" in bad_id.json()["message"]


def test_info_healthz_metrics(client: ASGIClient) -> None:
    info = client.get("/info").json()
    assert info["name"] == "winnow"
    assert set(info) == {"name", "version", "uuid"}
    assert client.get("/info").json()["uuid"] == info["uuid"]
    assert client.get("/healthz").json()["status"] == "ok"
    client.post("/infer/object_detection", json={"api_key": KEY})
    text = client.get("/metrics").text
    assert 'winnow_requests_total{route="/infer/object_detection",status="400"} 1.0' in text
    assert 'winnow_request_seconds_count{route="/info"} 2.0' in text


def test_oversized_bodies_are_413(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "small", api_key=KEY, max_upload_bytes=1000)
    with ASGIClient(inference_app(settings, SpyCollector())) as small:
        legacy = small.post(
            f"/cars/0?api_key={KEY}", content=JPEG_B64, headers={"Content-Type": "application/json"}
        )
        assert legacy.status_code == 413
        assert "limit" in legacy.json()["message"]
        v1 = small.post(
            "/infer/object_detection",
            json={
                "api_key": KEY,
                "model_id": "cars/0",
                "image": {"type": "base64", "value": JPEG_B64},
            },
        )
        assert v1.status_code == 413
        multipart = small.post(
            f"/cars/0?api_key={KEY}", files={"file": ("x.jpg", JPEG, "image/jpeg")}
        )
        assert multipart.status_code == 413

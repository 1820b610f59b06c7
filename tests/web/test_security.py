"""The web UI refuses cross-origin writes (sign-in included) and sends its security headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.settings import Role, Settings
from winnow.web.security import CONTENT_SECURITY_POLICY

KEY = "security-test-key-0123456789"


@pytest.fixture
def client(settings: Settings) -> Iterator[ASGIClient]:
    """The whole app (role all) on a fresh data dir, not signed in."""
    app = create_app(settings.model_copy(update={"api_key": KEY}))
    with ASGIClient(app, base_url="https://127.0.0.1") as test_client:
        yield test_client


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "https://127.0.0.1.evil.example"]
)
def test_cross_origin_sign_in_is_refused_and_sets_no_cookie(
    client: ASGIClient, origin: str
) -> None:
    response = client.post(
        "/app/login", data={"api_key": KEY}, headers={"Origin": origin}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "cross-site request refused" in response.json()["message"]
    assert "set-cookie" not in response.headers


def test_same_origin_and_originless_sign_in_work(client: ASGIClient) -> None:
    for headers in ({"Origin": "https://127.0.0.1"}, {}):
        response = client.post(
            "/app/login", data={"api_key": KEY}, headers=headers, follow_redirects=False
        )
        assert response.status_code == 303
        assert "winnow_session=" in response.headers["set-cookie"]


def test_cross_origin_sign_out_is_refused_and_keeps_the_session(client: ASGIClient) -> None:
    client.post("/app/login", data={"api_key": KEY}, follow_redirects=False)
    response = client.post(
        "/app/logout", headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert client.get("/app/", follow_redirects=False).status_code == 200
    response = client.post(
        "/app/logout", headers={"Origin": "https://127.0.0.1"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/app/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/app/login", "/app/", "/app/static/app.css", "/app/nowhere"])
def test_web_responses_carry_the_security_headers(client: ASGIClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_api_routes_outside_the_ui_are_left_alone(client: ASGIClient) -> None:
    response = client.get("/info")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    # An API client posting cross-origin to the inference API is not refused by the UI's guard.
    response = client.post(
        "/infer/object_detection",
        json={"model_id": "p/0", "image": {"type": "url", "value": "x"}},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code != 403


def test_inference_role_has_no_ui_guard(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"role": Role.INFERENCE, "platform_url": "http://127.0.0.1:9"})
    )
    assert all(
        getattr(m.cls, "__name__", None) != "WebSecurityMiddleware" for m in app.user_middleware
    )

"""Fixtures of the web tests: an app on a fresh data dir, a signed-in client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.asgi_client import ASGIClient
from tests.web.helpers import KEY, build_app
from winnow.platform.service import Platform
from winnow.settings import Settings


@pytest.fixture
def web(settings: Settings) -> Iterator[tuple[ASGIClient, Platform]]:
    """A test client (not signed in) and its platform."""
    app, platform = build_app(settings)
    with ASGIClient(app, base_url="https://127.0.0.1") as client:
        yield client, platform
    platform.close()


@pytest.fixture
def signed_in(web: tuple[ASGIClient, Platform]) -> tuple[ASGIClient, Platform]:
    """The client after signing in with the bootstrap key."""
    client, platform = web
    response = client.post("/app/login", data={"api_key": KEY}, follow_redirects=False)
    assert response.status_code == 303
    return client, platform

"""Fixtures of the web tests: an app on a fresh data dir, a signed-in client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


from tests.platform.conftest import pg_schema_url  # noqa: E402,F401  (re-exported fixture)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def matrix_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """A Platform on SQLite or on a fresh PostgreSQL schema."""
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_url")
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY, database_url=url)
    opened = Platform.open(settings)
    yield opened
    opened.close()

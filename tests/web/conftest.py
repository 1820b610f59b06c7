"""Fixtures of the web tests: an app on a fresh data dir, a signed-in client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.apps import web_app
from tests.factories import KEY
from tests.server.asgi_client import ASGIClient
from tests.services import DATABASE_URL, require
from winnow.platform.service import Platform
from winnow.settings import Settings


@pytest.fixture
def web(settings: Settings) -> Iterator[tuple[ASGIClient, Platform]]:
    """A test client (not signed in) and its platform."""
    app, platform = web_app(settings)
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


@pytest.fixture
def web_pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = require(DATABASE_URL, "PostgreSQL")
    schema = f"winnow_web_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def matrix_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """A Platform on SQLite or on a fresh PostgreSQL schema."""
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("web_pg_url")
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY, database_url=url)
    opened = Platform.open(settings)
    yield opened
    opened.close()

"""The fuzz tests' app: seeded, with a client signed in to the web UI (one per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.harness import BASE
from tests.fuzz.world import KEY, World, fuzz_settings, seed
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ASGIClient, World]]:
    """A seeded app and a client signed in to its web UI (session cookie set)."""
    app = create_app(fuzz_settings(Path(tmp_path_factory.mktemp("fuzz")) / "data"))
    with ASGIClient(app, base_url=BASE) as client:
        world = seed(client.request)
        signed = client.post("/app/login", data={"api_key": KEY}, follow_redirects=False)
        assert signed.status_code == 303, signed.text
        yield client, world

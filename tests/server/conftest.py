"""Fixtures of the server tests: an in-process inference app over a spy collector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import SpyCollector, inference_app
from tests.server.asgi_client import ASGIClient
from winnow.settings import Settings


@pytest.fixture
def spy() -> SpyCollector:
    return SpyCollector()


@pytest.fixture
def client(settings: Settings, spy: SpyCollector) -> Iterator[ASGIClient]:
    with ASGIClient(inference_app(settings, spy)) as test_client:
        yield test_client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"

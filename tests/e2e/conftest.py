"""Session fixtures of the end-to-end tests: the SDK virtualenv and a served winnow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import Server, sdk_python, winnow_serve

API_KEY = "e2e-key-0123456789abcdef"


@pytest.fixture(scope="session")
def sdk() -> Path:
    """The python of the inference-sdk virtualenv."""
    return sdk_python()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``winnow serve`` (role all) for the session, on a tmp data dir."""
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    with winnow_serve(data_dir, api_key=API_KEY) as running:
        yield running

"""Shared fixtures: real service URLs, settings on a temporary data dir."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import KEY
from tests.services import DATABASE_URL, REDIS_URL, fresh_schema, require
from winnow.settings import Settings


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL (database 15), flushed before and after the test."""
    url = require(REDIS_URL, "Redis")
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL of the test database."""
    return require(DATABASE_URL, "PostgreSQL")


@pytest.fixture
def pg_fresh_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema, dropped afterwards."""
    with fresh_schema(postgres_url) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on embedded defaults in a fresh data dir."""
    return Settings(data_dir=tmp_path / "data", api_key=KEY)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto_server process on a free port for the whole session."""
    port = _free_port()
    binary = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_settings(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at moto with dummy credentials and a fresh bucket."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3

    bucket = f"winnow-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.close()
    return Settings(data_dir=tmp_path, blob_url=f"s3://{bucket}/images", s3_endpoint_url=moto_url)

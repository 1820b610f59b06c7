"""The prediction log across real processes: a platform killed mid-traffic, then the node killed
too (SIGKILL both); after both restart, the platform holds every served prediction exactly once.

A ``--role platform`` process and a ``--role inference`` node with one-second segments. Stub
requests are served before, during and after the platform's outage (the node keeps serving from
its stale key and project answers); the node is killed once everything it served is on disk
(shipped, closed, or in an open segment), and a restarted node recovers its open segments and
ships them.
"""

from __future__ import annotations

import base64
import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.servers import Server, winnow_serve
from tests.live_server import free_port
from winnow.images import encode_jpeg
from winnow.predlog.query import RecordStore, read_records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KEY = "predlog-key-0123456789"
NODE_ENV = {
    "WINNOW_PREDLOG_SEGMENT_SECONDS": "1",
    "WINNOW_PREDLOG_FLUSH_SECONDS": "0.2",
    "WINNOW_PLATFORM_CONNECT_TIMEOUT": "0.5",
    "WINNOW_PLATFORM_READ_TIMEOUT": "1.0",
    "WINNOW_PLATFORM_RETRY_SECONDS": "0.5",
    "WINNOW_NODE_NAME": "node-a",
}


def _serve(client: httpx.Client, count: int) -> None:
    rng = np.random.default_rng(count)
    for _ in range(count):
        pixels = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
        image = base64.b64encode(encode_jpeg(pixels, 90)).decode()
        body = {"api_key": KEY, "model_id": "cars/0", "image": {"type": "base64", "value": image}}
        response = client.post("/infer/object_detection", json=body)
        assert response.status_code == 200, response.text


def _platform_ids(platform_dir: Path) -> list[str]:
    store = RecordStore.local(str(platform_dir / "blobs" / "predictions"))
    table = read_records(store, workspace="default", columns=["inference_id"])
    return [str(i) for i in table.column("inference_id").to_pylist()]


def _node_rows(node_dir: Path) -> int:
    """Records the node holds on disk: closed segments and whole batches of open ones."""
    rows = 0
    for path in (node_dir / "predlog" / "closed").glob("*.parquet"):
        if not path.name.startswith("."):
            with contextlib.suppress(OSError, pa.ArrowInvalid):  # shipped away meanwhile
                rows += pq.read_metadata(path).num_rows
    for path in (node_dir / "predlog" / "open").glob("*.arrows"):
        try:
            reader = pa.ipc.open_stream(pa.OSFile(str(path), "rb"))
            while True:
                rows += reader.read_next_batch().num_rows
        except (StopIteration, OSError, pa.ArrowInvalid):
            pass
    return rows


def _wait(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _kill(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)


def test_records_survive_a_platform_outage_and_a_node_crash_once_each(tmp_path: Path) -> None:
    platform_dir, node_dir = tmp_path / "platform", tmp_path / "node"
    port = free_port()
    args = ("--role", "platform")
    # One serving process: the crash of one process's open segment is the case under test.
    node_args: tuple[str, ...] = (
        "--role",
        "inference",
        "--platform-url",
        f"http://127.0.0.1:{port}",
    )
    node_args += ("--workers", "1")
    # First life of the node: segments stay open (an hour), so its crash leaves them open.
    first_life = {**NODE_ENV, "WINNOW_PREDLOG_SEGMENT_SECONDS": "3600"}
    with winnow_serve(platform_dir, api_key=KEY, args=args, port=port) as platform:
        with platform.client() as http:
            made = http.post("/v1/projects", json={"name": "cars", "type": "object-detection"})
            assert made.status_code == 201, made.text
        with winnow_serve(node_dir, api_key=KEY, args=node_args, env=first_life) as node:
            with httpx.Client(base_url=node.url, timeout=30) as client:
                _serve(client, 20)
                _kill(platform)
                _serve(client, 30)  # the platform is down: the node serves on
            _wait(lambda: _node_rows(node_dir) == 50, "the node to flush what it served")
            _kill(node)
    assert len(list((node_dir / "predlog" / "open").glob("*.arrows"))) == 1
    assert _platform_ids(platform_dir) == []

    # Second life, the platform still down: the open segment is recovered, shipping fails.
    with winnow_serve(node_dir, api_key=KEY, args=node_args, env=NODE_ENV) as node:
        closed = node_dir / "predlog" / "closed"
        _wait(lambda: len(list(closed.glob("*.parquet"))) == 1, "the crashed segment recovered")
        with winnow_serve(platform_dir, api_key=KEY, args=args, port=port):
            with httpx.Client(base_url=node.url, timeout=30) as client:
                _serve(client, 10)
            _wait(lambda: len(_platform_ids(platform_dir)) >= 60, "every record shipped")
            ids = _platform_ids(platform_dir)
    assert len(ids) == 60
    assert len(set(ids)) == 60  # none twice
    assert list(closed.glob("*.parquet")) == []

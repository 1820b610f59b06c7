"""``winnow serve --workers 2``: two serving processes, one collection process, one outbox."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.servers import Server, winnow_serve
from tests.factories import make_jpeg_b64

pytestmark = [pytest.mark.slow]

KEY = "workers-key-0123456789"
REQUESTS = 60
LIMIT = 45


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def metric(node: Server, outcome: str) -> float:
    total = 0.0
    for line in httpx.get(f"{node.url}/metrics", timeout=10).text.splitlines():
        if line.startswith("winnow_datapoints_total{") and f'outcome="{outcome}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def images(platform: Server) -> list[dict[str, Any]]:
    with platform.client() as http:
        response = http.get("/v1/projects/shared/images", params={"limit": 500})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["images"]
        return found


@pytest.mark.parametrize("limits", [pytest.param("redis", marks=pytest.mark.redis), "local"])
def test_two_workers_serve_and_one_collection_process_delivers_exactly_the_limit(
    tmp_path: Path, request: pytest.FixtureRequest, limits: str
) -> None:
    # redis: --limits-url; local: limits left unset, so the workers share <data_dir>/limits.db.
    shared = ("--limits-url", request.getfixturevalue("redis_url")) if limits == "redis" else ()
    with winnow_serve(tmp_path / "platform", api_key=KEY, args=("--role", "platform")) as platform:
        with platform.client() as http:
            assert (
                http.post(
                    "/v1/projects", json={"name": "shared", "type": "object-detection"}
                ).status_code
                == 201
            )
            config = {
                "enabled": True,
                "persist_predictions": True,
                "max_image_size": [48, 64],
                "sampling_strategies": [
                    {
                        "name": "all",
                        "type": "random",
                        "traffic_percentage": 1.0,
                        "limits": [{"type": "daily", "value": LIMIT}],
                    }
                ],
                "batching_strategy": {"batches_name_prefix": "w", "recreation_interval": "never"},
            }
            assert http.put("/v1/projects/shared/al-config", json=config).status_code == 200
        args = (
            "--role",
            "inference",
            "--platform-url",
            platform.url,
            *shared,
            "--workers",
            "2",
        )
        with winnow_serve(tmp_path / "node", api_key=KEY, args=args) as node:
            # The supervisor's children: two workers and the collection process.
            assert len(children(node.process.pid)) >= 3, node.log()

            def infer(seed: int) -> int:
                payload = {
                    "api_key": KEY,
                    "model_id": "shared/0",
                    "image": {"type": "base64", "value": make_jpeg_b64(128, 96, seed=seed)},
                }
                response = httpx.post(
                    f"{node.url}/infer/object_detection", json=payload, timeout=30
                )
                return response.status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(infer, range(REQUESTS)))
            assert statuses == [200] * REQUESTS
            deadline = time.monotonic() + 60
            while len(images(platform)) < LIMIT and time.monotonic() < deadline:
                time.sleep(0.2)
            stored = images(platform)
            # Exact across the two workers (shared limits), each stored once, prepared.
            assert len(stored) == LIMIT, node.log()
            assert {(image["width"], image["height"]) for image in stored} == {(64, 48)}
            while metric(node, "delivered") < LIMIT and time.monotonic() < deadline:
                time.sleep(0.2)
            # /metrics of either worker shows the node: both workers and the collection process.
            assert metric(node, "queued") == LIMIT
            assert metric(node, "limited") == REQUESTS - LIMIT
            assert metric(node, "delivered") == LIMIT
        assert node.process.returncode is not None


def test_kill_9_of_the_supervisor_takes_its_workers_and_collection_process_down(
    tmp_path: Path,
) -> None:
    platform_args = ("--role", "inference", "--platform-url", "http://127.0.0.1:9")
    with winnow_serve(
        tmp_path / "node", api_key=KEY, args=(*platform_args, "--workers", "2")
    ) as node:
        kids = children(node.process.pid)
        assert len(kids) >= 3, node.log()
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)
        deadline = time.monotonic() + 20
        while any(Path(f"/proc/{pid}").exists() for pid in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [pid for pid in kids if Path(f"/proc/{pid}").exists()]
        for pid in alive:  # not to leave them behind when the test fails
            os.kill(pid, signal.SIGKILL)
        assert alive == [], "children outlived their supervisor"


def test_role_all_collects_in_its_own_process_and_loses_nothing_to_its_kill_9(
    tmp_path: Path,
) -> None:
    count = 40
    data_dir = tmp_path / "node"
    with winnow_serve(data_dir, api_key=KEY) as node:  # role all, as `winnow serve` starts
        with node.client() as http:
            created = http.post("/v1/projects", json={"name": "shared", "type": "object-detection"})
            assert created.status_code == 201, created.text
            config = {
                "enabled": True,
                "persist_predictions": True,
                "sampling_strategies": [
                    {"name": "all", "type": "random", "traffic_percentage": 1.0}
                ],
                "batching_strategy": {"batches_name_prefix": "w", "recreation_interval": "never"},
            }
            saved = http.put("/v1/projects/shared/al-config", json=config)
            assert saved.status_code == 200, saved.text
        pid_file = data_dir / "collection.pid"
        first = int(pid_file.read_text())
        assert first in children(node.process.pid), node.log()

        def infer(seed: int) -> int:
            payload = {
                "api_key": KEY,
                "model_id": "shared/0",
                "image": {"type": "base64", "value": make_jpeg_b64(128, 96, seed=seed)},
            }
            response = httpx.post(f"{node.url}/infer/object_detection", json=payload, timeout=30)
            return response.status_code

        os.kill(first, signal.SIGSTOP)  # serving goes on; captures wait in the outbox
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(infer, range(count)))
        assert statuses == [200] * count
        assert len(images(node)) == 0
        os.kill(first, signal.SIGCONT)
        time.sleep(0.05)  # let it claim (and perhaps deliver) some
        os.kill(first, signal.SIGKILL)
        with sqlite3.connect(data_dir / "outbox.db") as db:
            (waiting,) = db.execute(
                "SELECT COUNT(*) FROM entries WHERE status != 'delivered'"
            ).fetchone()
        assert waiting > 0, "killed after everything was delivered"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                restarted = int(pid_file.read_text())
            except (OSError, ValueError):  # being written
                restarted = first
            if restarted != first:
                break
            time.sleep(0.1)
        assert restarted != first, node.log()  # the supervisor started a new one
        while len(images(node)) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        stored = images(node)
        # Every accepted datapoint stored, each once (distinct images, distinct ids).
        assert len(stored) == count, node.log()
        assert len({image["id"] for image in stored}) == count
        assert metric(node, "queued") == count

"""Two inference processes sharing Redis in front of one platform process."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.servers import Server, winnow_serve
from tests.factories import make_jpeg_b64
from tests.server.onnx_models import end2end_detector

pytestmark = [pytest.mark.slow, pytest.mark.redis]

KEY = "cluster-key-0123456789"
LIMIT = 5


def _config(prefix: str, strategy: str, limit: int | None) -> dict[str, Any]:
    strategy_doc: dict[str, Any] = {"name": strategy, "type": "random", "traffic_percentage": 1.0}
    if limit is not None:
        strategy_doc["limits"] = [{"type": "daily", "value": limit}]
    return {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [strategy_doc],
        "batching_strategy": {"batches_name_prefix": prefix, "recreation_interval": "never"},
    }


def _infer(node: Server, seed: int, source: str | None = None) -> int:
    payload = {
        "api_key": KEY,
        "model_id": "shared/0",
        "image": {"type": "base64", "value": make_jpeg_b64(128, 96, seed=seed)},
    }
    if source is not None:
        payload["source"] = source
    return httpx.post(f"{node.url}/infer/object_detection", json=payload, timeout=30).status_code


def _outcomes(nodes: list[Server], outcome: str) -> float:
    """Sum of ``winnow_datapoints_total{project="shared", outcome=...}`` over the nodes."""
    total = 0.0
    for node in nodes:
        for line in httpx.get(f"{node.url}/metrics", timeout=10).text.splitlines():
            if (
                line.startswith("winnow_datapoints_total{")
                and 'project="shared"' in line
                and f'outcome="{outcome}"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
    return total


def _images(platform: Server, **params: str) -> list[dict[str, Any]]:
    with platform.client() as http:
        response = http.get("/v1/projects/shared/images", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["images"]
        return found


def test_shared_limits_hold_and_config_changes_reach_both_nodes(
    tmp_path: Path, redis_url: str
) -> None:
    with winnow_serve(tmp_path / "platform", api_key=KEY, args=("--role", "platform")) as platform:
        common = ("--role", "inference", "--platform-url", platform.url, "--limits-url", redis_url)
        with (
            winnow_serve(
                tmp_path / "a", api_key=KEY, args=common, env={"ACTIVE_LEARNING_TAGS": "node-a"}
            ) as node_a,
            winnow_serve(
                tmp_path / "b", api_key=KEY, args=common, env={"ACTIVE_LEARNING_TAGS": "node-b"}
            ) as node_b,
        ):
            with platform.client() as http:
                created = http.post(
                    "/v1/projects", json={"name": "shared", "type": "object-detection"}
                )
                assert created.status_code == 201, created.text
                saved = http.put(
                    "/v1/projects/shared/al-config", json=_config("first", "capped", LIMIT)
                )
                assert saved.status_code == 200, saved.text

            # 1. Twenty requests over both nodes at once: exactly LIMIT datapoints in total.
            nodes = [node_a, node_b]
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(lambda i: _infer(nodes[i % 2], i), range(20)))
            assert statuses == [200] * 20
            deadline = time.monotonic() + 20
            while len(_images(platform)) < LIMIT and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.5)  # anything over the limit would have arrived by now
            first = _images(platform)
            assert len(first) == LIMIT
            assert all(image["batch"] == "first" for image in first)
            assert _outcomes(nodes, "queued") == LIMIT
            assert _outcomes(nodes, "limited") == 20 - LIMIT

            # 2. A new configuration reaches both nodes within 5 s of being saved.
            with platform.client() as http:
                saved = http.put(
                    "/v1/projects/shared/al-config", json=_config("second", "open", None)
                )
                assert saved.status_code == 200, saved.text
            saved_at = time.monotonic()
            seed = 1000
            reached: set[str] = set()
            while time.monotonic() - saved_at < 5.0 and reached != {"node-a", "node-b"}:
                for node in nodes:
                    seed += 1
                    assert _infer(node, seed) == 200
                reached = {
                    tag
                    for image in _images(platform)
                    if image["batch"] == "second"
                    for tag in image["tags"]
                    if tag.startswith("node-")
                }
                time.sleep(0.2)
            assert reached == {"node-a", "node-b"}, f"reached only {reached} within 5 s"

            # 3. A model version registered on the platform is downloaded and served by a node.
            with platform.client() as http:
                added = http.post(
                    "/v1/models",
                    data={"model_id": "shared/1"},
                    files={"file": ("m.onnx", end2end_detector(), "application/octet-stream")},
                )
                assert added.status_code == 201, added.text
            payload = {
                "api_key": KEY,
                "model_id": "shared/1",
                "image": {"type": "base64", "value": make_jpeg_b64(128, 96, seed=7)},
                "confidence": 0.5,
            }
            served = httpx.post(f"{node_b.url}/infer/object_detection", json=payload, timeout=30)
            assert served.status_code == 200, served.text
            assert [p["class"] for p in served.json()["predictions"]] == ["car"]


def test_per_source_limits_hold_across_two_nodes(tmp_path: Path, redis_url: str) -> None:
    """``{"per": "source"}``: every camera gets its own budget, shared by both nodes, and
    a busy camera cannot spend a quiet one's."""
    per_source = 3
    config = _config("cams", "per-camera", None)
    config["sampling_strategies"][0]["limits"] = [
        {"type": "hourly", "value": per_source, "per": "source"},
        {"type": "daily", "value": 100},
    ]
    with winnow_serve(tmp_path / "platform", api_key=KEY, args=("--role", "platform")) as platform:
        common = ("--role", "inference", "--platform-url", platform.url, "--limits-url", redis_url)
        with (
            winnow_serve(tmp_path / "a", api_key=KEY, args=common) as node_a,
            winnow_serve(tmp_path / "b", api_key=KEY, args=common) as node_b,
        ):
            with platform.client() as http:
                created = http.post(
                    "/v1/projects", json={"name": "shared", "type": "object-detection"}
                )
                assert created.status_code == 201, created.text
                saved = http.put("/v1/projects/shared/al-config", json=config)
                assert saved.status_code == 200, saved.text

            # The busy camera sends 16 frames over both nodes, the quiet ones 4 each, all at once.
            sources = ["busy"] * 16 + ["quiet-1"] * 4 + ["quiet-2"] * 4
            nodes = [node_a, node_b]
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(
                    pool.map(
                        lambda item: _infer(nodes[item[0] % 2], 5000 + item[0], item[1]),
                        enumerate(sources),
                    )
                )
            assert statuses == [200] * len(sources)
            expected = per_source * 3
            deadline = time.monotonic() + 20
            while len(_images(platform)) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _outcomes(nodes, "queued") == expected
            assert _outcomes(nodes, "limited") == len(sources) - expected
            images = _images(platform)
            by_source: dict[str, int] = {}
            for image in images:
                by_source[image["source"]] = by_source.get(image["source"], 0) + 1
            assert by_source == {"busy": per_source, "quiet-1": per_source, "quiet-2": per_source}

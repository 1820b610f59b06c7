"""The real inference-sdk client against a real ``winnow serve``, in v1 and v0 modes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import Server, run_sdk

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

INFER = """
import json, os
import numpy as np
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
a = json.loads(os.environ["ARGS"])
client = InferenceHTTPClient(api_url=a["url"], api_key=a["key"])
if a.get("disable"):
    client.configure(InferenceConfiguration(disable_active_learning=True))
if a.get("v0"):
    client.select_api_v0()
image = np.random.default_rng(a["seed"]).integers(0, 255, (480, 640, 3), dtype=np.uint8)
print(json.dumps(client.infer(image, model_id=a["model_id"])))
"""

CONFIG = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "everything", "type": "random", "traffic_percentage": 1.0}],
    "batching_strategy": {"batches_name_prefix": "e2e", "recreation_interval": "never"},
    "tags": ["from-e2e"],
}


def _project(server: Server, name: str, type_: str) -> None:
    with server.client() as http:
        created = http.post("/v1/projects", json={"name": name, "type": type_})
        assert created.status_code == 201, created.text
        saved = http.put(f"/v1/projects/{name}/al-config", json=CONFIG)
        assert saved.status_code == 200, saved.text


def _images(server: Server, project: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"/v1/projects/{project}/images", params={"limit": 100})
        assert response.status_code == 200, response.text
        images: list[dict[str, Any]] = response.json()["images"]
        return images


def _wait_for(
    server: Server, project: str, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        images = _images(server, project)
        if len(images) >= count or time.monotonic() > deadline:
            return images
        time.sleep(0.2)


def _infer(sdk: Path, server: Server, model_id: str, seed: int, **flags: Any) -> Any:
    return run_sdk(
        sdk, INFER, url=server.url, key=server.api_key, model_id=model_id, seed=seed, **flags
    )


@pytest.mark.parametrize("mode", ["v1", "v0"])
def test_stub_inference_collects_into_the_batch(sdk: Path, server: Server, mode: str) -> None:
    project = f"sdk-{mode}"
    _project(server, project, "object-detection")
    result = _infer(sdk, server, f"{project}/0", seed=1, v0=mode == "v0")
    assert set(result) == {"time", "is_stub", "model_id", "task_type"}
    assert result["is_stub"] is True
    assert result["model_id"] == f"{project}/0"
    assert result["task_type"] == "object-detection"
    (image,) = _wait_for(server, project, 1)
    assert image["batch"] == "e2e"
    assert "from-e2e" in image["tags"]
    assert image["strategy"] == "everything"
    assert image["model_id"] == f"{project}/0"
    assert image["source"] == "http"
    assert (image["width"], image["height"]) == (640, 480)
    route = "/{project}/{version:int}" if mode == "v0" else "/infer/object_detection"
    with server.client() as http:
        assert f'winnow_requests_total{{route="{route}",status="200"}}' in http.get("/metrics").text


@pytest.mark.parametrize("mode", ["v1", "v0"])
def test_disable_active_learning_collects_nothing(sdk: Path, server: Server, mode: str) -> None:
    project = f"sdk-off-{mode}"
    _project(server, project, "classification")
    result = _infer(sdk, server, f"{project}/0", seed=2, v0=mode == "v0", disable=True)
    assert result["is_stub"] is True
    # A later, enabled request lands; had the first been collected it would be there too.
    _infer(sdk, server, f"{project}/0", seed=3, v0=mode == "v0")
    assert len(_wait_for(server, project, 1)) == 1
    time.sleep(1.0)
    assert len(_images(server, project)) == 1


def test_sdk_registry_and_errors(sdk: Path, server: Server) -> None:
    _project(server, "sdk-reg", "instance-segmentation")
    script = """
import json, os
from inference_sdk import InferenceHTTPClient
a = json.loads(os.environ["ARGS"])
client = InferenceHTTPClient(api_url=a["url"], api_key=a["key"])
loaded = client.load_model("sdk-reg/0")
out = {"loaded": [m.model_id for m in loaded.models]}
# the default (legacy) key transport sends no key for unload: the server must still answer
out["unloaded"] = [m.model_id for m in client.unload_model("sdk-reg/0").models]
out["after_unload"] = [m.model_id for m in client.list_loaded_models().models]
out["cleared"] = [m.model_id for m in client.unload_all_models().models]
try:
    client.infer("data:,", model_id="no-such-project/0")
except Exception as exc:
    out["error"] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""
    result = run_sdk(sdk, script, url=server.url, key=server.api_key)
    assert "sdk-reg/0" in result["loaded"]
    assert result["unloaded"] == []
    assert "sdk-reg/0" not in result["after_unload"]
    assert result["cleared"] == []
    assert "no-such-project" in result["error"]


HEADER_TRANSPORT = """
import json, os
import numpy as np
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
a = json.loads(os.environ["ARGS"])
client = InferenceHTTPClient(api_url=a["url"], api_key=a["key"])
client.configure(InferenceConfiguration(api_key_transport="header"))
image = np.zeros((48, 64, 3), dtype=np.uint8)
out = {"v1": client.infer(image, model_id=a["model_id"])}
out["registry"] = [m.model_id for m in client.list_loaded_models().models]
out["cleared"] = [m.model_id for m in client.unload_all_models().models]
client.select_api_v0()
out["v0"] = client.infer(image, model_id=a["model_id"])
print(json.dumps(out))
"""


def test_key_in_the_authorization_header_only(sdk: Path, server: Server) -> None:
    _project(server, "sdk-header", "keypoint-detection")
    result = run_sdk(
        sdk, HEADER_TRANSPORT, url=server.url, key=server.api_key, model_id="sdk-header/0"
    )
    assert result["v1"]["task_type"] == "keypoint-detection"
    assert "sdk-header/0" in result["registry"]
    assert result["cleared"] == []
    assert result["v0"]["is_stub"] is True

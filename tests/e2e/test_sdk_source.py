"""The real inference-sdk's ``InferenceConfiguration(source=..., source_info=...)`` reaches the image.

The SDK sends both in the v1 JSON body and as query parameters of the legacy
route; a real ``winnow serve`` stores them as the collected image's
``source`` and ``source_info``, and its image listing filters by source.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import Server, run_sdk

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

INFER_WITH_SOURCE = """
import json, os
import numpy as np
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
a = json.loads(os.environ["ARGS"])
client = InferenceHTTPClient(api_url=a["url"], api_key=a["key"])
client.configure(InferenceConfiguration(source=a["source"], source_info=a["source_info"]))
if a["v0"]:
    client.select_api_v0()
out = []
for seed in a["seeds"]:
    image = np.random.default_rng(seed).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    out.append(client.infer(image, model_id=a["model_id"]))
print(json.dumps(out))
"""

CONFIG = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "everything", "type": "random", "traffic_percentage": 1.0}],
    "batching_strategy": {"batches_name_prefix": "cams", "recreation_interval": "never"},
}


def _images(server: Server, project: str, **filters: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"/v1/projects/{project}/images", params={"limit": 100, **filters})
        assert response.status_code == 200, response.text
        images: list[dict[str, Any]] = response.json()["images"]
        return images


@pytest.mark.parametrize("mode", ["v1", "v0"])
def test_the_sdk_source_is_stored_on_the_image(sdk: Path, server: Server, mode: str) -> None:
    project = f"sdk-source-{mode}"
    with server.client() as http:
        created = http.post("/v1/projects", json={"name": project, "type": "object-detection"})
        assert created.status_code == 201, created.text
        saved = http.put(f"/v1/projects/{project}/al-config", json=CONFIG)
        assert saved.status_code == 200, saved.text
    for source, seeds in (("gate-3", [11, 12]), ("dock", [13])):
        results = run_sdk(
            sdk,
            INFER_WITH_SOURCE,
            url=server.url,
            key=server.api_key,
            model_id=f"{project}/0",
            source=source,
            source_info=f"{source}-relay",
            v0=mode == "v0",
            seeds=seeds,
        )
        assert all(r["is_stub"] is True for r in results)
    deadline = time.monotonic() + 20
    images = _images(server, project)
    while len(images) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        images = _images(server, project)
    assert sorted((i["source"], i["source_info"]) for i in images) == [
        ("dock", "dock-relay"),
        ("gate-3", "gate-3-relay"),
        ("gate-3", "gate-3-relay"),
    ]
    gate = _images(server, project, source="gate-3")
    assert [i["source"] for i in gate] == ["gate-3", "gate-3"]

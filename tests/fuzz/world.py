"""A seeded winnow app for fuzzing: one workspace key, a project of each type, ids that exist.

The fuzz tests build the real app (``create_app(fuzz_settings(...))``, role all)
on a temporary data dir and fill it through its own HTTP API, so generated requests can hit
existing projects, images, batches and model versions, not only 404s.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.factories import make_jpeg
from winnow.settings import Settings

KEY = "fuzz-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROJECTS = {
    "det": "object-detection",
    "seg": "instance-segmentation",
    "kp": "keypoint-detection",
    "cls": "classification",
    "mlc": "multi-label-classification",
}
AL_CONFIG: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "rand", "type": "random", "traffic_percentage": 0.5}],
    "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
}

# Any callable(method, url, **requests-or-httpx-kwargs) returning an object with .status_code.
Send = Callable[..., Any]


def fuzz_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a fuzzed app: embedded defaults, small upload caps so big bodies stay cheap."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "api_key": KEY,
        "max_upload_bytes": 2_000_000,
        "max_image_pixels": 4_000_000,
        "url_fetch_timeout": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


def onnx_bytes() -> bytes:
    """A small ONNX detector graph (bytes), for a registered model version."""
    from tests.server import onnx_models

    return onnx_models.end2end_detector()


@dataclass
class World:
    """What the seeding created: names and ids a fuzzer can aim at."""

    projects: dict[str, str] = field(default_factory=lambda: dict(PROJECTS))
    image_ids: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)


def _check(response: Any, what: str) -> Any:
    if response.status_code >= 300:
        raise AssertionError(f"seeding {what}: {response.status_code} {response.text}")
    return response


def seed(send: Send) -> World:
    """Create the projects, an AL config, images (with predictions) and a model version."""
    world = World()
    for name, kind in PROJECTS.items():
        _check(send("POST", "/v1/projects", headers=AUTH, json={"name": name, "type": kind}), name)
    _check(send("PUT", "/v1/projects/det/al-config", headers=AUTH, json=AL_CONFIG), "config")
    prediction = {
        "image": {"width": 48, "height": 32},
        "predictions": [
            {"x": 10, "y": 12, "width": 8, "height": 6, "confidence": 0.9, "class": "car"}
        ],
    }
    for i, batch in enumerate(["b1", "b1", "b2"]):
        meta = {"batch": batch, "tags": ["fuzz"], "strategy": "rand", "name": f"i{i}.jpg"}
        response = _check(
            send(
                "POST",
                "/v1/projects/det/datapoints",
                headers=AUTH,
                data={"metadata": json.dumps(meta), "prediction": json.dumps(prediction)},
                files={"file": (f"i{i}.jpg", io.BytesIO(make_jpeg(48, 32, seed=i)), "image/jpeg")},
            ),
            "datapoint",
        )
        world.image_ids.append(response.json()["id"])
    world.batches = ["b1", "b2"]
    _check(
        send(
            "POST",
            "/v1/models",
            headers=AUTH,
            data={"model_id": "det/1", "class_names": json.dumps(["car", "bus"])},
            files={"file": ("m.onnx", io.BytesIO(onnx_bytes()), "application/octet-stream")},
        ),
        "model",
    )
    world.model_ids = ["det/1", "det/0"]
    return world

"""An in-process inference app over an in-memory ModelSource, and small helpers."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from fastapi import FastAPI

from tests.server import onnx_models
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.datapoint import CollectionContext
from winnow.errors import NotFoundError, UnauthorizedError
from winnow.images import encode_jpeg
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry
from winnow.models.source import ModelInfo
from winnow.platform.http_errors import install_error_handlers
from winnow.predictions import Prediction
from winnow.server.metrics_middleware import MetricsMiddleware
from winnow.server.mount import mount_inference_routes, mount_info_routes, mount_legacy_route
from winnow.server.services import Services
from winnow.server.url_fetch import UrlFetchPolicy, fetch_url
from winnow.settings import Settings

KEY = "test-key-0123456789"
OTHER_KEY = "other-key-0123456789"


class MemoryModelSource:
    """A ModelSource over dicts: two workspaces, a few projects and ONNX versions."""

    def __init__(self) -> None:
        self.keys = {KEY: "default", OTHER_KEY: "other"}
        self.projects = {
            ("default", "cars"): "object-detection",
            ("default", "pets"): "classification",
            ("default", "people"): "keypoint-detection",
            ("default", "shapes"): "instance-segmentation",
            ("other", "cars"): "object-detection",
        }
        self.files = {
            ("default", "cars", 1): ("object-detection", onnx_models.end2end_detector()),
            ("default", "pets", 1): ("classification", onnx_models.classifier()),
            ("default", "people", 1): ("keypoint-detection", onnx_models.pose_model()),
            ("default", "shapes", 1): ("instance-segmentation", onnx_models.segmenter()),
        }

    def workspace_of(self, api_key: str) -> str:
        try:
            return self.keys[api_key]
        except KeyError:
            raise UnauthorizedError("unknown API key") from None

    def project_type(self, api_key: str, project: str) -> str:
        ws = self.workspace_of(api_key)
        try:
            return self.projects[(ws, project)]
        except KeyError:
            raise NotFoundError(f"project {project!r} not found") from None

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        ws = self.workspace_of(api_key)
        self.project_type(api_key, project)
        try:
            task, data = self.files[(ws, project, version)]
        except KeyError:
            raise NotFoundError(f"model {project}/{version} not found") from None
        return ModelInfo(
            workspace=ws,
            project=project,
            version=version,
            task_type=task,
            class_names=(),
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
        )

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        ws = self.workspace_of(api_key)
        return self.files[(ws, project, version)][1]


@dataclass
class SpyCollector:
    """Records every submit with the moment it happened (for ordering checks)."""

    calls: list[tuple[npt.NDArray[np.uint8], Prediction, CollectionContext]] = field(
        default_factory=list
    )
    events: list[str] | None = None
    fail: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def submit(
        self, image: npt.NDArray[np.uint8], prediction: Prediction, context: CollectionContext
    ) -> bool:
        if self.events is not None:
            self.events.append("submit")
        self.calls.append((image, prediction, context))
        self.done.set()
        if self.fail:
            raise RuntimeError("collector exploded")
        return True


def build_test_app(settings: Settings, collector: Any) -> FastAPI:
    """The server's routes with Services built by hand (no platform)."""
    metrics = Metrics()
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    policy = UrlFetchPolicy.from_settings(settings)
    app.state.services = Services(
        settings=settings,
        metrics=metrics,
        registry=ModelRegistry(
            MemoryModelSource(), cache_dir=settings.data_dir / "models", max_loaded=4
        ),
        collector=collector,
        fetch_url=lambda url: fetch_url(url, policy),
    )
    mount_info_routes(app)
    mount_inference_routes(app)
    mount_legacy_route(app)
    return app


@pytest.fixture
def spy() -> SpyCollector:
    return SpyCollector()


@pytest.fixture
def client(settings: Settings, spy: SpyCollector) -> Iterator[ASGIClient]:
    with ASGIClient(build_test_app(settings, spy)) as test_client:
        yield test_client


def jpeg_b64(width: int = 128, height: int = 64, seed: int = 0) -> str:
    """A random RGB JPEG as base64 text."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return base64.b64encode(encode_jpeg(image, 90)).decode()


def body(model_id: str, **extra: Any) -> dict[str, Any]:
    """A v1 request body with one JPEG."""
    return {
        "api_key": KEY,
        "model_id": model_id,
        "image": {"type": "base64", "value": jpeg_b64()},
        **extra,
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"

"""The one place for test apps: builders of in-process apps, the doubles they need, drain.

- :func:`inference_app`: the inference routes over an in-memory model source
  and a collector the test passes (a :class:`SpyCollector`), no platform;
- :func:`platform_app`: a platform's routes and the shared error handlers;
- :func:`web_app`: a platform with the web UI, export and its routes;
- the whole app is ``winnow.app.create_app(settings)`` itself;
- :func:`drain`: run a started ``create_app`` app's collector, then delivery,
  to empty, so a test can assert exactly what was collected (never sleep);
- :func:`ship_predictions`: drain, then flush, close and ship the prediction log;
- :func:`make_project` and :func:`project_images`: a project and its images
  through a running app's own HTTP API;
- :func:`post_by_hand`: POSTs driven over raw ASGI, recording when each response was sent;
- :func:`run_migration`: one Alembic upgrade or downgrade of a database URL.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from tests.factories import AUTH, KEY, OTHER_KEY
from tests.server import onnx_models
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.datapoint import CollectionContext
from winnow.activelearning.drain import drain as drain_workers
from winnow.app import include_routes
from winnow.errors import NotFoundError, UnauthorizedError
from winnow.http.errors import install_error_handlers
from winnow.images import CapturedImage
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry
from winnow.models.source import ModelInfo
from winnow.predictions import Prediction
from winnow.server.metrics_middleware import MetricsMiddleware
from winnow.server.services import Services
from winnow.server.url_fetch import UrlFetchPolicy, fetch_url
from winnow.settings import Role, Settings

if TYPE_CHECKING:  # the inference tests need no platform (SQLAlchemy) loaded
    from winnow.platform.service import Platform


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

    calls: list[tuple[CapturedImage, Prediction, CollectionContext]] = field(default_factory=list)
    events: list[str] | None = None
    fail: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def submit(
        self, image: CapturedImage, prediction: Prediction, context: CollectionContext
    ) -> bool:
        if self.events is not None:
            self.events.append("submit")
        self.calls.append((image, prediction, context))
        self.done.set()
        if self.fail:
            raise RuntimeError("collector exploded")
        return True


def inference_app(settings: Settings, collector: Any) -> FastAPI:
    """The inference routes over a :class:`MemoryModelSource` and ``collector`` (no platform)."""
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
    include_routes(app, Role.INFERENCE)
    return app


def platform_app(platform: Platform) -> FastAPI:
    """A FastAPI app with the platform's routes and the shared error handlers."""
    from winnow.platform import routes as platform_routes

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(platform_routes.router)
    app.state.platform = platform
    return app


def web_app(settings: Settings) -> tuple[FastAPI, Platform]:
    """A platform opened on ``settings``, its routes, the web UI and its static files, export.

    The caller closes the platform.
    """
    from winnow.platform import routes as platform_routes
    from winnow.platform.export import routes as export_routes
    from winnow.platform.service import Platform
    from winnow.web import routes as web_routes
    from winnow.web.assets import mount_static

    platform = Platform.open(settings)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(web_routes.router)
    app.include_router(export_routes.router)
    app.include_router(platform_routes.router)
    app.state.platform = platform
    mount_static(app)
    return app, platform


def drain(app: FastAPI, *, timeout: float = 30.0) -> None:
    """Run a started ``create_app`` app's collector queue to empty, then delivery in burst mode.

    See :mod:`winnow.activelearning.drain`: when it returns, every request
    answered before the call has had its datapoint decided and, if queued,
    one delivery attempt; a test then asserts exactly.
    """
    runtime = app.state.runtime
    if runtime.shadow is not None:  # images waiting for a shadow run reach the collector first
        runtime.shadow.drain(timeout)
    drain_workers(runtime.collector, runtime.delivery, timeout=timeout)


def ship_predictions(app: FastAPI, *, timeout: float = 30.0) -> None:
    """:func:`drain`, then write, close and ship every prediction-log record of a started
    ``create_app`` app; returns once no closed segment is left on the node (the shipper's
    own thread may ship some of them meanwhile)."""
    drain(app)
    runtime = app.state.runtime
    predlog = runtime.services.predlog
    predlog.flush()
    predlog.close_segments()
    deadline = time.monotonic() + timeout
    while predlog.closed_segments():
        runtime.shipper.ship_once()
        if time.monotonic() > deadline:
            raise TimeoutError(f"segments left unshipped: {predlog.closed_segments()}")
        time.sleep(0.01)


def make_project(client: ASGIClient, name: str, type_: str, config: dict[str, Any] | None) -> None:
    """Create a project of :data:`KEY`'s workspace over HTTP, with an AL ``config`` if given."""
    response = client.post("/v1/projects", json={"name": name, "type": type_}, headers=AUTH)
    assert response.status_code == 201, response.text
    if config is not None:
        saved = client.request("PUT", f"/v1/projects/{name}/al-config", json=config, headers=AUTH)
        assert saved.status_code == 200, saved.text


def project_images(client: ASGIClient, project: str) -> list[dict[str, Any]]:
    """The images of ``project`` (native API, :data:`KEY`), as JSON objects."""
    response = client.get(f"/v1/projects/{project}/images", headers=AUTH)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["images"]
    return found


def post_by_hand(app: Any, path: str, bodies: Sequence[Sequence[bytes]], events: list[str]) -> None:
    """POST to ``path`` of ``app`` over raw ASGI, once per item of ``bodies``, each body sent
    in the chunks given. Appends ``"status <code>"`` when a response starts and ``"response
    sent"`` once its last body byte is sent, so a test can order its own events (a spy's
    ``"submit"``) against the response."""
    import asyncio

    async def drive() -> None:
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                events.append(f"status {message['status']}")
            if message["type"] == "http.response.body" and not message.get("more_body"):
                events.append("response sent")

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
            "app": app,
        }
        for chunks in bodies:
            for index, chunk in enumerate(chunks):
                more = index < len(chunks) - 1
                messages.append({"type": "http.request", "body": chunk, "more_body": more})
            await app(scope, receive, send)

    asyncio.run(drive())


def run_migration(url: str, action: str, revision: str) -> None:
    """``alembic <action> <revision>`` (upgrade or downgrade) on the database at ``url``."""
    from alembic import command

    from winnow.platform.db import make_engine
    from winnow.platform.migrate import alembic_config

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()

"""A platform app with the web UI and export routes, and sample data, for the web tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import simplejpeg
from fastapi import FastAPI

from winnow.platform.export.routes import export_router
from winnow.platform.http_errors import install_error_handlers
from winnow.platform.service import DatapointInput, Platform
from winnow.platform.store.workspaces import create_api_key, create_workspace
from winnow.settings import Settings
from winnow.web.assets import mount_static
from winnow.web.routes import web_router

KEY = "test-key-0123456789"


def build_app(settings: Settings) -> tuple[FastAPI, Platform]:
    """The platform's routes plus the web UI and export, as the lead mounts them."""
    platform = Platform.open(settings)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(web_router(platform))
    app.include_router(export_router(platform))
    app.include_router(platform.router)
    mount_static(app)
    return app, platform


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A JPEG with a gradient and a light square (distinct bytes per seed)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack(
        [(x * 255 // max(width, 1)), (y * 255 // max(height, 1)), np.full_like(x, 90)], axis=-1
    ).astype(np.uint8)
    pixels[height // 4 : height // 2, width // 4 : width // 2] = rng.integers(150, 255, 3)
    return bytes(simplejpeg.encode_jpeg(pixels, quality=85, colorspace="RGB"))


def detection(
    cls: str, x: float, y: float, w: float, h: float, conf: float = 0.6
) -> dict[str, Any]:
    """One reference-shaped detection (centre x, y)."""
    return {
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "confidence": conf,
        "class": cls,
        "class_id": 0,
    }


def add_image(
    platform: Platform,
    project: str,
    *,
    batch: str = "batch-1",
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    predictions: list[dict[str, Any]] | None = None,
    strategy: str = "random-10",
    tags: tuple[str, ...] = (),
) -> int:
    """Register one datapoint with a detection prediction; returns the image id."""
    workspace = platform.workspace(KEY)
    width, height = size
    prediction = None
    if predictions is not None:
        prediction = {"image": {"width": width, "height": height}, "predictions": predictions}
    result = platform.register(
        workspace=workspace,
        project=project,
        data=jpeg(width, height, seed),
        datapoint=DatapointInput(
            batch_name=batch, prediction=prediction, strategy=strategy, tags=tags
        ),
    )
    return int(result.image.id)


def create_project(platform: Platform, name: str, type_: str = "object-detection") -> None:
    """Create a project in the default workspace."""
    from winnow.platform import store

    workspace = platform.workspace(KEY)
    with platform.db.write() as session:
        store.create_project(session=session, workspace=workspace, name=name, type=type_)


def other_workspace_key(platform: Platform) -> str:
    """A key of a second workspace."""
    with platform.db.write() as session:
        ws = create_workspace(session=session, name="other")
        _record, key = create_api_key(
            session=session, workspace=ws, plaintext="other-key-0123456789"
        )
    return key


def pretty(value: Any) -> str:
    """JSON for assertion messages."""
    return json.dumps(value, indent=1)

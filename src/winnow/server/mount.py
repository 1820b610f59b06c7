"""Mounting the server's routers on an app, in the order that keeps every route reachable.

Order matters: the legacy catch-all ``POST /{project}/{version}`` must come
after every other two-segment POST (``/model/add``, ``/usage/inference``...),
so ``winnow.app`` mounts it last, after the platform router.
"""

from __future__ import annotations

from fastapi import FastAPI

from winnow.server import info_routes, legacy_routes, model_routes, v1_routes


def mount_info_routes(app: FastAPI) -> None:
    """``/info``, ``/healthz``, ``/metrics`` (every role)."""
    app.include_router(info_routes.router)


def mount_inference_routes(app: FastAPI) -> None:
    """``/model/...`` and ``/infer/...`` (roles all and inference)."""
    app.include_router(model_routes.router)
    app.include_router(v1_routes.router)


def mount_legacy_route(app: FastAPI) -> None:
    """``POST /{project}/{version}``; mount it last."""
    app.include_router(legacy_routes.router)

"""``GET /info``, ``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from winnow.server.services import ServicesDep

router = APIRouter(tags=["server"])


def winnow_version() -> str:
    """The installed version of winnow."""
    try:
        return version("winnow")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0.0.0"


@router.get("/info")
async def info(services: ServicesDep) -> dict[str, Any]:
    """``{"name": "winnow", "version", "uuid"}``; the uuid is fixed for the process's life."""
    return {"name": "winnow", "version": winnow_version(), "uuid": services.server_uuid}


@router.get("/healthz")
async def healthz(services: ServicesDep) -> dict[str, Any]:
    """Liveness: ``{"status": "ok", "role": ...}``."""
    return {"status": "ok", "role": services.settings.role.value}


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(content=services.metrics.render(), media_type=CONTENT_TYPE_LATEST)

"""Every platform route, as one APIRouter (see :func:`build_router`)."""

from __future__ import annotations

from fastapi import APIRouter

from winnow.platform.routes.models import build_models_router
from winnow.platform.routes.native import build_native_router
from winnow.platform.routes.reference import ReferenceRoute, build_reference_router
from winnow.platform.service import Platform
from winnow.platform.store.workspaces import RESERVED_PREFIXES

__all__ = ["RESERVED_PREFIXES", "ReferenceRoute", "build_router"]


def build_router(platform: Platform) -> APIRouter:
    """Native ``/v1`` routes first, then the reference fixed routes, then its catch-alls."""
    router = APIRouter()
    router.include_router(build_native_router(platform))
    router.include_router(build_models_router(platform))
    fixed, catchall = build_reference_router(platform)
    router.include_router(fixed)
    router.include_router(catchall)
    return router

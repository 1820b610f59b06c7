"""Every platform route, as one module-level APIRouter: ``winnow.platform.routes.router``.

Order: native ``/v1`` routes, model versions, the reference fixed routes, then
its ``/{ws}/{project}`` catch-alls (which step aside for reserved prefixes,
see :class:`ReferenceRoute`). Routes reach the platform and the caller's
workspace through :mod:`winnow.platform.deps`.
"""

from __future__ import annotations

from fastapi import APIRouter

from winnow.platform.routes import models, native, predictions, reference, shadow
from winnow.platform.routes.reference import ReferenceRoute
from winnow.platform.store.workspaces import RESERVED_PREFIXES

__all__ = ["RESERVED_PREFIXES", "ReferenceRoute", "router"]

router = APIRouter()
router.include_router(native.router)
router.include_router(shadow.router)
router.include_router(predictions.router)
router.include_router(models.router)
router.include_router(reference.fixed)
router.include_router(reference.catchall)

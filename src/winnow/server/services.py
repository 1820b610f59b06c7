"""The services one app holds on ``app.state.services``, and the typed dependencies to reach them.

Built by ``winnow.app.create_app`` in its lifespan; routes never touch
``app.state`` directly but declare ``services: ServicesDep``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, Request

from winnow.activelearning.datapoint import CollectionContext
from winnow.errors import NotFoundError
from winnow.images import CapturedImage
from winnow.metrics import Metrics
from winnow.models.base import InferenceParams
from winnow.models.registry import ModelRegistry
from winnow.predictions import Prediction
from winnow.settings import Settings

if TYPE_CHECKING:  # pyarrow loads only where a log is built
    from winnow.predlog.writer import PredictionLog


class CollectorLike(Protocol):
    """What the server needs from the active learning collector: a non-blocking hand-off."""

    def submit(
        self, image: CapturedImage, prediction: Prediction, context: CollectionContext
    ) -> bool:
        """Queue the datapoint for collection; False when it was dropped. Never raises."""
        ...


class ShadowHook(Protocol):
    """What the pipeline needs from the shadow runner: the hand-off of one request."""

    def for_request(self, collector: CollectorLike, params: InferenceParams) -> CollectorLike:
        """The collector hand-off for one request's images."""
        ...


@dataclass(slots=True)
class Services:
    """Everything the inference routes use. ``registry`` is None on a platform-only node."""

    settings: Settings
    metrics: Metrics
    registry: ModelRegistry | None
    collector: CollectorLike | None
    fetch_url: Callable[[str], bytes]
    server_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The shadow model runner (server/shadow.py): wraps the collector hand-off when set.
    shadow: ShadowHook | None = None
    # The prediction log (None when off): the pipeline records what the collector never sees.
    predlog: PredictionLog | None = None
    logged_causes: set[str] = field(default_factory=set)


# Both dependencies are ``async``: FastAPI runs a plain ``def`` dependency in the thread
# pool, a hop per request for one attribute read.
async def get_services(request: Request) -> Services:
    """The app's :class:`Services` (set by the lifespan)."""
    services: Services = request.app.state.services
    return services


async def get_registry(request: Request) -> ModelRegistry:
    """The model registry; 404 on a node that serves no models (role platform)."""
    services: Services = request.app.state.services
    registry = services.registry
    if registry is None:
        raise NotFoundError("this node does not serve models (role platform)")
    return registry


ServicesDep = Annotated[Services, Depends(get_services)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]

"""The datapoint: what the collector hands to the outbox and the platform receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True, frozen=True)
class CollectionContext:
    """Who asked for the prediction and where the datapoint should go.

    ``project`` is the target project (the model's project, or
    ``active_learning_target_dataset``). ``source`` names where the image
    came from (``"http"``, ``"stream:cam1"``...); ``source_tags`` are added
    to the datapoint's tags (the stream runner adds the source id).
    """

    api_key: str
    project: str
    model_id: str
    inference_id: str | None = None
    source: str = "http"
    source_tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Datapoint:
    """A prepared datapoint, ready to deliver.

    ``prediction`` is the reference-shaped JSON of the prediction rescaled to
    the encoded image, or None when the configuration does not persist
    predictions. ``idempotency_key`` makes registration on the platform
    idempotent: delivering the same datapoint twice stores it once.
    """

    idempotency_key: str
    api_key: str
    project: str
    batch_name: str
    image_jpeg: bytes
    width: int
    height: int
    prediction: dict[str, Any] | None
    task_type: str
    tags: tuple[str, ...]
    strategy: str
    model_id: str
    inference_id: str | None
    source: str
    config_version: int | None
    created_at: datetime

"""What the stream runner needs from its collaborators, and the value they exchange.

The runner is given a model registry and a collector; these protocols name
the few methods it calls, so tests can hand it doubles and ``winnow.stream``
does not depend on how they are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from winnow.activelearning.collector import Outcome
from winnow.activelearning.datapoint import CollectionContext
from winnow.models.base import Image, Model
from winnow.predictions import Prediction
from winnow.stream.sources import Frame


class ModelProvider(Protocol):
    """Where the runner gets its model (``winnow.models.registry.ModelRegistry``)."""

    def get(self, api_key: str, model_id: str) -> Model:
        """The loaded model; raises a ``WinnowError`` naming what is wrong."""
        ...


class CollectionSink(Protocol):
    """Where predictions go (``winnow.activelearning.collector.Collector``)."""

    def process(self, image: Image, prediction: Prediction, context: CollectionContext) -> Outcome:
        """Decide on one datapoint and write it to the outbox if collected; never raises."""
        ...

    def drain(self) -> object:
        """Process whatever was queued with ``submit`` (the runner itself never queues)."""
        ...


@dataclass(slots=True, frozen=True)
class Inferred:
    """A frame and the prediction made on it: one value, so they travel together."""

    frame: Frame
    prediction: Prediction

"""What the active learning core needs from a platform, as two small protocols.

Implementations: in-process (same process as the platform), HTTP native
(``/v1/projects/{project}/datapoints``) and HTTP reference (upload then
annotate). They live in ``winnow.platform.clients``; this module only
draws the boundary so the core imports nothing of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from winnow.activelearning.config import ActiveLearningConfig
    from winnow.activelearning.datapoint import Datapoint


class Delivered(str):
    """The platform's image id, as ``PlatformClient.deliver`` returns it.

    ``duplicate`` is True when the platform already held the same bytes in the
    project and stored nothing new (not when it replayed this datapoint's own
    earlier delivery by its idempotency key, where it can tell the two apart).
    """

    duplicate: bool

    def __new__(cls, image_id: str, *, duplicate: bool = False) -> Delivered:
        value = super().__new__(cls, image_id)
        value.duplicate = duplicate
        return value


class PlatformClient(Protocol):
    """Delivers datapoints to a platform."""

    def deliver(self, datapoint: Datapoint) -> str:
        """Register the datapoint; return the platform's image id (a ``Delivered``
        when the client can say whether it was an exact duplicate).

        Must be idempotent by ``datapoint.idempotency_key``. Raises
        ``winnow.errors.DeliveryError`` (``retryable`` set) on failure.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(slots=True, frozen=True)
class ProjectConfig:
    """A project's active learning configuration as an inference node sees it."""

    workspace: str
    project: str
    project_type: str
    config: ActiveLearningConfig
    version: int | None


class BatchCounter(Protocol):
    """Says how many images a labeling batch already holds on the platform."""

    def batch_images(self, api_key: str, project: str, batch_name: str) -> int:
        """Images in ``batch_name`` of ``project`` (0 when the batch does not exist yet)."""
        ...


class ConfigSource(Protocol):
    """Looks up the configuration in force for (api key, project)."""

    def get(self, api_key: str, project: str) -> ProjectConfig:
        """Return the configuration; raise NotFoundError, UnauthorizedError or ServiceUnavailableError."""
        ...


@dataclass(slots=True, frozen=True)
class ShadowCount:
    """One inference process's shadow runs and disagreements of a project on one UTC day.

    ``node`` names the process (a fresh id per start); ``runs`` and
    ``disagreements`` are its totals so far that day, so reporting the same
    count twice, or an older one after a newer, changes nothing.
    """

    day: str  # YYYY-MM-DD, UTC
    node: str
    model_id: str
    runs: int
    disagreements: int


class ShadowCountSink(Protocol):
    """Receives shadow counts (implemented in ``winnow.platform.clients``)."""

    def report(self, api_key: str, project: str, counts: list[ShadowCount]) -> None:
        """Store the counts (each kept as the larger of what is stored and what is sent)."""
        ...

"""Where an inference node gets projects and model files from: the ``ModelSource`` protocol.

Implementations live in ``winnow.platform.clients`` (in-process, and HTTP
against a remote platform's ``/v1/models`` routes); this module only draws
the boundary so ``winnow.models`` imports nothing of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Project types as the platform stores them, and the task type a model of that project answers.
PROJECT_TASK_TYPES: dict[str, str] = {
    "object-detection": "object-detection",
    "instance-segmentation": "instance-segmentation",
    "keypoint-detection": "keypoint-detection",
    "classification": "classification",
    "multi-label-classification": "classification",
}


@dataclass(slots=True, frozen=True)
class ModelInfo:
    """A registered model version. ``model_id`` is ``<project>/<version>``."""

    workspace: str
    project: str
    version: int
    task_type: str
    class_names: tuple[str, ...]
    sha256: str
    size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        """``<project>/<version>``."""
        return f"{self.project}/{self.version}"


class ModelSource(Protocol):
    """Resolves projects and model versions for an API key."""

    def workspace_of(self, api_key: str) -> str:
        """The workspace of the key; raises ``UnauthorizedError`` for an unknown key."""
        ...

    def project_type(self, api_key: str, project: str) -> str:
        """The project's type (see ``PROJECT_TASK_TYPES``); ``NotFoundError`` if unknown."""
        ...

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        """The registered version; ``NotFoundError`` naming it if there is none."""
        ...

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        """The ONNX file's bytes of that version."""
        ...

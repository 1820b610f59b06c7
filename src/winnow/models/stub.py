"""The stub model ``<project>/0``: answers without predicting anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from winnow.errors import BadRequestError
from winnow.images import CapturedImage
from winnow.models.base import TASK_TYPES, Image, InferenceParams
from winnow.models.source import PROJECT_TASK_TYPES
from winnow.predictions import Prediction, StubPrediction


@dataclass(slots=True, frozen=True)
class StubModel:
    """A model of any project that returns :class:`StubPrediction` for every image.

    ``task_type`` may be given as a project type (``multi-label-classification``
    becomes ``classification``) or as a task type.
    """

    model_id: str
    task_type: str

    def __post_init__(self) -> None:
        task = PROJECT_TASK_TYPES.get(self.task_type, self.task_type)
        if task not in TASK_TYPES:
            raise BadRequestError(f"unknown task type {self.task_type!r} for {self.model_id}")
        object.__setattr__(self, "task_type", task)

    @property
    def class_names(self) -> list[str]:
        """The stub knows no classes."""
        return []

    @property
    def input_height(self) -> int | None:
        """The stub takes any size."""
        return None

    @property
    def input_width(self) -> int | None:
        """The stub takes any size."""
        return None

    @property
    def batch_size(self) -> int | None:
        """The stub takes any batch."""
        return None

    def infer(
        self, images: Sequence[Image | CapturedImage], params: InferenceParams
    ) -> list[Prediction]:
        """One :class:`StubPrediction` per image (``time`` 0.0; the server sets it).

        No pixel is decoded: a captured image stays as it came.
        """
        return [StubPrediction(model_id=self.model_id, task_type=self.task_type) for _ in images]

"""Test doubles of the runner's collaborators: a model that reads the frame index, a recording collector."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from tests.stream.media import read_index
from winnow.activelearning.collector import Outcome
from winnow.activelearning.datapoint import CollectionContext
from winnow.models.base import InferenceParams
from winnow.predictions import Detection, DetectionPrediction, ImageSize, Prediction, TaskType


class IndexModel:
    """A detector whose one detection names the frame index it read from the pixels.

    Inference raises for indexes in ``raise_on`` and returns no prediction for
    those in ``empty_on`` (the two ways a model can fail to answer for a frame).
    """

    model_id = "proj/1"
    task_type = "object-detection"
    class_names: list[str] = ["frame"]  # noqa: RUF012
    input_height = None
    input_width = None
    batch_size = None

    def __init__(
        self, *, raise_on: set[int] | None = None, empty_on: set[int] | None = None
    ) -> None:
        self.raise_on = raise_on or set()
        self.empty_on = empty_on or set()
        self.calls = 0

    def infer(self, images: list[npt.NDArray[Any]], params: InferenceParams) -> list[Prediction]:
        self.calls += 1
        out: list[Prediction] = []
        for image in images:
            index = read_index(image)
            if index in self.raise_on:
                raise RuntimeError(f"injected failure on frame {index}")
            if index in self.empty_on:
                continue
            h, w = image.shape[:2]
            out.append(
                DetectionPrediction(
                    task_type=TaskType.OBJECT_DETECTION,
                    image=ImageSize(w, h),
                    detections=[Detection(w / 2, h / 2, 10, 10, 0.9, f"frame-{index}", 0)],
                )
            )
        return out


class OneModelRegistry:
    """A registry holding one model under any id."""

    def __init__(self, model: object) -> None:
        self.model = model

    def get(self, api_key: str, model_id: str) -> object:
        return self.model


@dataclass
class RecordingCollector:
    """Records what is submitted; ``accept`` decides the return value."""

    accept: bool = True
    records: list[tuple[npt.NDArray[Any], Prediction, CollectionContext]] = field(
        default_factory=list
    )
    drained: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def process(
        self, image: npt.NDArray[Any], prediction: Prediction, context: CollectionContext
    ) -> Outcome:
        with self.lock:
            self.records.append((image, prediction, context))
        return Outcome.QUEUED if self.accept else Outcome.NOT_SAMPLED

    def drain(self) -> None:
        self.drained += 1


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(seconds, 0.0)

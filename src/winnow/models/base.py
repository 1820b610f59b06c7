"""What every model offers the server: ``InferenceParams`` in, predictions out.

A :class:`Model` takes decoded images (numpy uint8 HxWx3, RGB), or
:class:`~winnow.images.CapturedImage` objects it decodes itself when it needs
pixels (the stub never does; an ONNX model may decode a JPEG at a reduced DCT
scale), and returns one
:mod:`winnow.predictions` object per image, with coordinates in pixels of the
ORIGINAL image and ``image`` set to its size. ``inference_id`` and ``time``
are left ``None``: the server sets them.

Defaults of :class:`InferenceParams` are the reference server's
(``inference/core/env.py``): confidence 0.4, IoU 0.3, 300 detections,
3000 candidates, class-wise NMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from winnow.errors import BadRequestError
from winnow.images import CapturedImage
from winnow.predictions import Prediction

Image = npt.NDArray[np.uint8]
"""An RGB uint8 HxWx3 image."""

TASK_TYPES: tuple[str, ...] = (
    "object-detection",
    "instance-segmentation",
    "keypoint-detection",
    "classification",
)

DEFAULT_CONFIDENCE = 0.4
DEFAULT_IOU_THRESHOLD = 0.3
DEFAULT_MAX_DETECTIONS = 300
DEFAULT_MAX_CANDIDATES = 3000
MASK_DECODE_MODES: tuple[str, ...] = ("accurate", "fast", "tradeoff")


@dataclass(slots=True, frozen=True)
class InferenceParams:
    """Per-request knobs of a model run. Invalid values raise ``BadRequestError`` naming the field.

    ``class_filter`` keeps only detections (or, for classification, nothing is
    removed) whose class name is listed; ``None`` keeps all. ``max_candidates``
    bounds the boxes entering NMS (highest scores first). ``keypoint_confidence``
    drops keypoints below it from keypoint detections. ``mask_decode_mode`` and
    ``tradeoff_factor`` are accepted for compatibility; every mode decodes
    masks at prototype resolution upsampled to the box (``accurate``).
    """

    confidence: float = DEFAULT_CONFIDENCE
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    class_filter: list[str] | None = None
    max_detections: int = DEFAULT_MAX_DETECTIONS
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    class_agnostic_nms: bool = False
    keypoint_confidence: float = 0.0
    mask_decode_mode: str = "accurate"
    tradeoff_factor: float = 0.0

    def __post_init__(self) -> None:
        for name in ("confidence", "iou_threshold", "keypoint_confidence", "tradeoff_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadRequestError(f"{name} must be a number, got {value!r}")
            # Compared as is: float() of a huge JSON integer would overflow; NaN fails too.
            if not 0.0 <= value <= 1.0:
                raise BadRequestError(f"{name} must be between 0 and 1, got {value!r}")
        for name in ("max_detections", "max_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadRequestError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.class_agnostic_nms, bool):
            raise BadRequestError(
                f"class_agnostic_nms must be true or false, got {self.class_agnostic_nms!r}"
            )
        if self.class_filter is not None and (
            not isinstance(self.class_filter, list)
            or not all(isinstance(c, str) for c in self.class_filter)
        ):
            raise BadRequestError(
                f"class_filter must be a list of class names, got {self.class_filter!r}"
            )
        if self.mask_decode_mode not in MASK_DECODE_MODES:
            raise BadRequestError(
                f"mask_decode_mode must be one of {', '.join(MASK_DECODE_MODES)}, "
                f"got {self.mask_decode_mode!r}"
            )


@runtime_checkable
class Model(Protocol):
    """A loaded model. ``task_type`` is one of :data:`TASK_TYPES`.

    ``input_height``/``input_width``/``batch_size`` are ``None`` when not fixed
    (the stub, or a dynamic axis). ``infer`` is safe to call from several
    threads at once.
    """

    @property
    def model_id(self) -> str:
        """``<project>/<version>``."""
        ...

    @property
    def task_type(self) -> str:
        """One of :data:`TASK_TYPES`."""
        ...

    @property
    def class_names(self) -> list[str]:
        """Class names by class id (empty for the stub)."""
        ...

    @property
    def input_height(self) -> int | None:
        """Network input height in pixels, or None."""
        ...

    @property
    def input_width(self) -> int | None:
        """Network input width in pixels, or None."""
        ...

    @property
    def batch_size(self) -> int | None:
        """Fixed batch size of the network, or None when dynamic / not applicable."""
        ...

    def infer(
        self, images: Sequence[Image | CapturedImage], params: InferenceParams
    ) -> list[Prediction]:
        """One prediction per image (RGB uint8 HxWx3, or a captured image decoded when
        needed), in original image coordinates (of ``CapturedImage.pixels()``)."""
        ...

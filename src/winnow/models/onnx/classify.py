"""Classification: resize the short side, centre-crop, normalise; outputs are probabilities.

Ultralytics classifiers (``classify_transforms``) resize the short side to
``imgsz`` and centre-crop ``imgsz x imgsz``, RGB/255 with no mean/std. Other
exports state their preprocessing in metadata: ``resize_short`` (short side
before the crop), ``mean``/``std`` (per channel, on the 0-1 scale),
``channel_order`` (``rgb`` or ``bgr``). The output ``[B, nc]`` must already be
softmax (single-label) or sigmoid (``multi_label``) scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from winnow.models.base import InferenceParams
from winnow.predictions import ClassificationPrediction, ClassScore, ImageSize


@dataclass(slots=True, frozen=True)
class ClassifyPreprocess:
    """How an image becomes the classifier's input."""

    height: int
    width: int
    resize_short: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: str = "rgb"

    def __call__(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """One CHW float32 input from an RGB uint8 image."""
        h, w = image.shape[:2]
        ratio = self.resize_short / min(h, w)
        # At least the crop size on each side, so the centre crop always fits.
        new_w = max(self.width, round(w * ratio))
        new_h = max(self.height, round(h * ratio))
        interp = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
        top, left = (new_h - self.height) // 2, (new_w - self.width) // 2
        crop = resized[top : top + self.height, left : left + self.width]
        if self.channel_order == "bgr":
            crop = crop[..., ::-1]
        data = crop.astype(np.float32) / np.float32(255.0)
        data = (data - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(data.transpose(2, 0, 1), dtype=np.float32)


def classification(
    scores: npt.NDArray[np.float32],
    class_names: list[str],
    image: ImageSize,
    params: InferenceParams,
    *,
    multi_label: bool,
) -> ClassificationPrediction:
    """A classification prediction from one row of scores; classes sorted by confidence.

    Single-label: ``predicted_classes`` is the top class. Multi-label: every
    class whose score is at least ``params.confidence``.
    """
    classes = [
        ClassScore(
            class_name=class_names[i] if i < len(class_names) else str(i),
            class_id=i,
            confidence=float(score),
        )
        for i, score in enumerate(scores.tolist())
    ]
    classes.sort(key=lambda c: c.confidence, reverse=True)
    if multi_label:
        predicted = [c.class_name for c in classes if c.confidence >= params.confidence]
    else:
        predicted = [classes[0].class_name] if classes else []
    return ClassificationPrediction(
        image=image, classes=classes, multi_label=multi_label, predicted_classes=predicted
    )

"""Drawing predictions on a copy of the input image (``format=image``, ``visualize_predictions``).

The input array is never modified: it is the same object the collector
receives after the response.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from winnow.images import encode_jpeg
from winnow.predictions import ClassificationPrediction, DetectionPrediction, Prediction

_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 56, 56),
    (72, 249, 10),
    (0, 194, 255),
    (255, 157, 151),
    (146, 204, 23),
    (255, 178, 29),
    (132, 56, 255),
    (82, 0, 133),
)


def _color(class_id: int) -> tuple[int, int, int]:
    return _PALETTE[class_id % len(_PALETTE)]


def draw_prediction(
    image: npt.NDArray[np.uint8], prediction: Prediction, *, stroke: int = 2
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with boxes, polygons, keypoints or the top class drawn on it."""
    canvas = np.ascontiguousarray(image.copy())
    if isinstance(prediction, DetectionPrediction):
        for det in prediction.detections:
            color = _color(det.class_id)
            x1, y1, x2, y2 = (round(v) for v in det.xyxy())
            if det.points:
                pts = np.array([[round(x), round(y)] for x, y in det.points], dtype=np.int32)
                cv2.polylines(canvas, [pts], True, color, stroke)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, stroke)
            for kp in det.keypoints or []:
                cv2.circle(canvas, (round(kp.x), round(kp.y)), stroke + 1, color, -1)
            label = f"{det.class_name} {det.confidence:.2f}"
            cv2.putText(
                canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1
            )
    elif isinstance(prediction, ClassificationPrediction) and prediction.top is not None:
        top = prediction.top
        cv2.putText(
            canvas,
            f"{top.class_name} {top.confidence:.2f}",
            (8, 24),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7,
            _color(top.class_id),
            2,
        )
    return canvas


def annotated_jpeg(
    image: npt.NDArray[np.uint8], prediction: Prediction, quality: int = 90
) -> bytes:
    """``draw_prediction`` encoded as JPEG."""
    return encode_jpeg(draw_prediction(image, prediction), quality)

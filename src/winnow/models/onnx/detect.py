"""Decode detection-family outputs into candidates and select them (threshold, filter, NMS).

Two layouts, both with boxes in network-input pixels:

- raw Ultralytics head ``[4 + nc + extra, A]`` per image: cx, cy, w, h, then
  ``nc`` class scores (already sigmoid), then ``extra`` values per anchor
  (32 mask coefficients for segment, K*3 keypoint values for pose);
- end-to-end ``[N, 6 + extra]`` per image (NMS done in the graph):
  x1, y1, x2, y2, score, class, then the same extras.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from winnow.models.base import InferenceParams
from winnow.models.onnx.letterbox import Letterbox
from winnow.models.onnx.nms import nms
from winnow.predictions import Detection

FloatArray = npt.NDArray[np.float32]


@dataclass(slots=True)
class Candidates:
    """Boxes of one image: ``xyxy [N, 4]`` input pixels, ``scores [N]``, ``class_ids [N]``, ``extra [N, E]``."""

    xyxy: FloatArray
    scores: FloatArray
    class_ids: npt.NDArray[np.int64]
    extra: FloatArray

    def take(self, index: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Candidates:
        """The candidates at ``index`` (indices or a mask), in that order."""
        return Candidates(
            self.xyxy[index], self.scores[index], self.class_ids[index], self.extra[index]
        )

    def __len__(self) -> int:
        return len(self.scores)


def decode_raw(output: FloatArray, num_classes: int, confidence: float) -> Candidates:
    """Candidates above ``confidence`` from a raw head ``[4 + nc + extra, A]``."""
    if num_classes < 1:
        raise ValueError("a detection head needs at least one class")
    # Threshold on the best class score first, so only survivors are transposed.
    best = output[4 : 4 + num_classes].max(axis=0)
    rows = output[:, best >= confidence].T  # [kept, C]
    class_scores = rows[:, 4 : 4 + num_classes]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), class_ids]
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return Candidates(
        xyxy.astype(np.float32),
        scores.astype(np.float32),
        class_ids.astype(np.int64),
        np.ascontiguousarray(rows[:, 4 + num_classes :], dtype=np.float32),
    )


def decode_end2end(output: FloatArray, confidence: float) -> Candidates:
    """Candidates above ``confidence`` from an end-to-end output ``[N, 6 + extra]``."""
    rows = output[output[:, 4] >= confidence]
    return Candidates(
        np.ascontiguousarray(rows[:, :4], dtype=np.float32),
        rows[:, 4].astype(np.float32),
        np.rint(rows[:, 5]).astype(np.int64),
        np.ascontiguousarray(rows[:, 6:], dtype=np.float32),
    )


def select(
    candidates: Candidates,
    params: InferenceParams,
    class_names: list[str],
    *,
    run_nms: bool,
) -> Candidates:
    """Apply ``class_filter``, ``max_candidates``, NMS (unless done in the graph) and ``max_detections``.

    The class filter runs before NMS, so a box of a filtered-out class never
    suppresses a box that was asked for. Result is sorted by score, highest first.
    """
    if params.class_filter is not None:
        wanted = set(params.class_filter)
        mask = np.array(
            [_name(class_names, int(c)) in wanted for c in candidates.class_ids], dtype=np.bool_
        )
        candidates = candidates.take(mask)
    order = np.argsort(-candidates.scores, kind="stable")[: params.max_candidates]
    candidates = candidates.take(order)
    if run_nms:
        keep = nms(
            candidates.xyxy,
            candidates.scores,
            candidates.class_ids,
            iou_threshold=params.iou_threshold,
            class_agnostic=params.class_agnostic_nms,
            max_detections=params.max_detections,
        )
        return candidates.take(keep)
    return candidates.take(np.arange(min(len(candidates), params.max_detections)))


def _name(class_names: list[str], class_id: int) -> str:
    return class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)


def to_detections(
    candidates: Candidates, box: Letterbox, class_names: list[str]
) -> list[Detection]:
    """Detections in original-image pixels (centre x, y, width, height), one per candidate."""
    xyxy = box.boxes_to_original(candidates.xyxy)
    out = []
    for (x1, y1, x2, y2), score, class_id in zip(
        xyxy.tolist(), candidates.scores.tolist(), candidates.class_ids.tolist(), strict=True
    ):
        out.append(
            Detection(
                x=(x1 + x2) / 2,
                y=(y1 + y2) / 2,
                width=x2 - x1,
                height=y2 - y1,
                confidence=float(score),
                class_name=_name(class_names, int(class_id)),
                class_id=int(class_id),
                detection_id=str(uuid.uuid4()),
            )
        )
    return out

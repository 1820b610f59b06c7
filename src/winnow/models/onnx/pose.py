"""Keypoints of pose detections, mapped to original pixels.

Per detection the head carries ``K * D`` values: x, y (network-input pixels)
and, when ``D == 3``, a visibility score (already sigmoid). ``D == 2`` models
get confidence 1.0. Keypoints under ``keypoint_confidence`` are left out, as
the reference server does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from winnow.models.onnx.letterbox import Letterbox
from winnow.predictions import Keypoint


def keypoints(
    values: npt.NDArray[np.float32],
    kpt_shape: tuple[int, int],
    box: Letterbox,
    names: list[str],
    min_confidence: float,
) -> list[list[Keypoint]]:
    """One keypoint list per detection from ``values [N, K * D]``."""
    count, dims = kpt_shape
    if len(values) == 0:
        return []
    grid = values[:, : count * dims].reshape(len(values), count, dims)
    xy = box.points_to_original(np.ascontiguousarray(grid[..., :2]))
    conf = grid[..., 2] if dims >= 3 else np.ones(grid.shape[:2], dtype=np.float32)
    out: list[list[Keypoint]] = []
    for points, scores in zip(xy.tolist(), conf.tolist(), strict=True):
        row = []
        for k, ((x, y), score) in enumerate(zip(points, scores, strict=True)):
            if score < min_confidence:
                continue
            name = names[k] if k < len(names) else str(k)
            row.append(Keypoint(x=x, y=y, confidence=float(score), class_id=k, class_name=name))
        out.append(row)
    return out

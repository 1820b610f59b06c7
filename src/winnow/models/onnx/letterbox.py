"""Letterbox an image into the network input, and map results back to the original image.

Same geometry as Ultralytics' ``LetterBox(auto=False)``: scale by
``r = min(H / h, W / w)`` (up or down), resize to ``round(w * r) x round(h * r)``
with bilinear interpolation, and pad evenly with grey 114 to ``W x H``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114


@dataclass(slots=True, frozen=True)
class Letterbox:
    """How an original ``width x height`` image sits in the network input."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int

    def boxes_to_original(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map ``[N, 4]`` x1,y1,x2,y2 boxes from input pixels to original pixels, clipped."""
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, [0, 2]] = (xyxy[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (xyxy[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out

    def points_to_original(self, xy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map ``[..., 2]`` points from input pixels to original pixels, clipped."""
        out = np.empty_like(xy, dtype=np.float32)
        out[..., 0] = ((xy[..., 0] - self.pad_x) / self.scale).clip(0, self.width)
        out[..., 1] = ((xy[..., 1] - self.pad_y) / self.scale).clip(0, self.height)
        return out


def letterbox(
    image: npt.NDArray[np.uint8], height: int, width: int
) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resize ``image`` (HxWx3) keeping its aspect and pad it to ``height x width``."""
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized: npt.NDArray[Any] = image
    if (new_w, new_h) != (w, h):
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (width - new_w) / 2, (height - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(
        resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    return np.asarray(padded, dtype=np.uint8), Letterbox(scale, left, top, w, h)


def to_nchw(images: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    """Stack HxWx3 uint8 images into an NCHW float32 batch scaled to [0, 1]."""
    batch = np.stack(images).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

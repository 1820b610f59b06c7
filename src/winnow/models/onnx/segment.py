"""Instance masks from mask coefficients and prototypes, as polygons in original pixels.

For each detection: ``sigmoid(coefs @ protos)`` at prototype resolution
(``H/4 x W/4`` of the network input), sampled with bilinear interpolation
straight onto the detection's box in the ORIGINAL image (one affine warp:
original pixel -> letterboxed input -> prototype cell), thresholded at 0.5
(logit > 0), and traced with ``cv2.findContours``; the largest outer contour
is the polygon. Pixels outside the box are outside the mask, as in Ultralytics'
``crop_mask``.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from winnow.models.onnx.letterbox import Letterbox

FloatArray = npt.NDArray[np.float32]


def mask_polygons(
    coefs: FloatArray,
    protos: FloatArray,
    boxes_original: FloatArray,
    box: Letterbox,
    input_size: tuple[int, int],
) -> list[list[tuple[float, float]]]:
    """One polygon per detection (empty when its mask is empty).

    ``coefs`` is ``[N, M]``, ``protos`` ``[M, mh, mw]``, ``boxes_original``
    ``[N, 4]`` x1,y1,x2,y2 in original pixels, ``input_size`` the network's
    ``(height, width)``.
    """
    if len(coefs) == 0:
        return []
    num, mh, mw = protos.shape
    logits = (coefs @ protos.reshape(num, -1)).reshape(-1, mh, mw)
    in_h, in_w = input_size
    kx, ky = mw / in_w, mh / in_h
    polygons: list[list[tuple[float, float]]] = []
    for logit, (x1, y1, x2, y2) in zip(logits, boxes_original.tolist(), strict=True):
        bx1, by1 = int(np.floor(x1)), int(np.floor(y1))
        bx2, by2 = int(np.ceil(x2)), int(np.ceil(y2))
        bw, bh = bx2 - bx1, by2 - by1
        if bw <= 0 or bh <= 0:
            polygons.append([])
            continue
        # dst pixel (u, v) of the box crop is original pixel centre (bx1 + u + .5, by1 + v + .5);
        # in prototype cells (centre-aligned) that is ((X * s + pad) * k - .5).
        sx, sy = box.scale * kx, box.scale * ky
        matrix = np.array(
            [
                [sx, 0.0, ((bx1 + 0.5) * box.scale + box.pad_x) * kx - 0.5],
                [0.0, sy, ((by1 + 0.5) * box.scale + box.pad_y) * ky - 0.5],
            ],
            dtype=np.float64,
        )
        crop = cv2.warpAffine(
            np.ascontiguousarray(logit, dtype=np.float32),
            matrix,
            (bw, bh),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        mask = (crop > 0).astype(np.uint8)
        # Ultralytics crops the mask to the (fractional) box: clear the partial edge pixels.
        xs = np.arange(bw) + bx1 + 0.5
        ys = np.arange(bh) + by1 + 0.5
        mask[:, (xs < x1) | (xs > x2)] = 0
        mask[(ys < y1) | (ys > y2), :] = 0
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            polygons.append([])
            continue
        largest = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
        polygons.append(
            [(float(px + bx1), float(py + by1)) for px, py in largest.reshape(-1, 2).tolist()]
        )
    return polygons

"""pycocotools as the reference for winnow's detection figures (tests and bench/bench_evaluation.py)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from winnow.evaluation.samples import DetectionSample


def coco_bbox_eval(
    samples: Sequence[DetectionSample],
    names: Sequence[str],
    *,
    one_area: bool = False,
    summarize: bool = False,
) -> Any:
    """pycocotools' ``COCOeval`` of the samples' boxes, evaluated and accumulated.

    Class ``names[k]`` is category id ``k + 1``. ``one_area``: only the
    ``all`` area range with up to 100 detections per image (``eval["precision"]``
    then has one area and one max-dets column). ``summarize`` fills ``stats``.
    What pycocotools prints is swallowed.
    """
    cat = {n: i + 1 for i, n in enumerate(names)}
    gts: list[dict[str, Any]] = []
    dts: list[dict[str, Any]] = []
    for s in samples:
        for b in s.truth:
            x1, y1, x2, y2 = b.xyxy
            gts.append(
                {
                    "id": len(gts) + 1,
                    "image_id": s.image_id,
                    "category_id": cat[b.class_name],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        for b in s.predicted:
            x1, y1, x2, y2 = b.xyxy
            dts.append(
                {
                    "image_id": s.image_id,
                    "category_id": cat[b.class_name],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": b.confidence,
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": [{"id": s.image_id, "width": s.width, "height": s.height} for s in samples],
            "categories": [{"id": i, "name": n} for n, i in cat.items()],
            "annotations": gts,
        }
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dts), "bbox")
        if one_area:
            ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0, 1e10]], ["all"], [100]
        ev.evaluate()
        ev.accumulate()
        if summarize:
            ev.summarize()
    return ev

"""The fast paths of evaluation give what the plain paths give: rows from bodies, IoU handed to COCOeval."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster

from winnow.evaluation import coco
from winnow.evaluation.flat import flat_of_bodies, flat_of_samples
from winnow.evaluation.samples import DetectionSample, boxes_from_body

NAMES = ["a", "b", "c"]


def _body(rng: np.random.Generator, n: int, scored: bool) -> str:
    items = []
    for _ in range(n):
        x, y = rng.uniform(20, 600, 2)
        w, h = rng.uniform(4, 90, 2)
        item: dict[str, Any] = {
            "x": float(x),
            "y": float(y),
            "width": float(w),
            "height": float(h),
            "class": NAMES[int(rng.integers(0, 3))],
        }
        if scored:
            item["confidence"] = round(float(rng.uniform()), 2)  # ties on purpose
        items.append(item)
    return json.dumps({"predictions": items})


def _bodies(seed: int) -> tuple[list[tuple[int, int, int]], list[Any]]:
    rng = np.random.default_rng(seed)
    images, bodies = [], []
    for image_id in range(1, 41):
        crowded = image_id == 7  # more than MAX_DETS detections of one class: its own path
        truth = _body(rng, int(rng.integers(0, 12)), scored=False)
        served = _body(rng, 330 if crowded else int(rng.integers(0, 12)), scored=True)
        images.append((image_id * 3, 640, 640))
        bodies.append((("json", truth), ("json", served)))
    # A small image whose boxes overlap a lot, so IoU lands on every side of the thresholds.
    overlap = json.dumps(
        {
            "predictions": [
                {"x": 10 + k, "y": 10, "width": 8, "height": 8, "class": "a"} for k in range(6)
            ]
        }
    )
    images.append((999, 32, 32))
    bodies.append((("json", overlap), ("json", overlap)))
    return images, bodies


@pytest.mark.parametrize("seed", [0, 1])
def test_rows_from_bodies_equal_rows_from_parsed_samples(seed: int) -> None:
    images, bodies = _bodies(seed)
    bodies[3] = (("json", '{"top": "cat"}'), bodies[3][1])  # not detection JSON: left out
    fast = flat_of_bodies(images, bodies)
    samples = [
        DetectionSample(i, w, h, boxes_from_body(t[1], t[0]), boxes_from_body(p[1], p[0]))
        for (i, w, h), (t, p) in zip(images, bodies, strict=True)
        if (i, w, h) != images[3]
    ]
    plain = flat_of_samples(samples)
    assert fast.image_ids.tolist() == [i for i, _, _ in images if i != images[3][0]]
    assert fast.classes == plain.classes
    for a, b in ((fast.truth, plain.truth), (fast.predicted, plain.predicted)):
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.cls, b.cls)
        assert np.array_equal(a.xyxy, b.xyxy)
        assert np.array_equal(a.confidence, b.confidence)


@pytest.mark.parametrize("seed", [0, 1])
def test_box_ious_are_the_matrices_faster_coco_eval_computes(seed: int) -> None:
    images, bodies = _bodies(seed)
    flat = flat_of_bodies(images, bodies)
    ours = coco.box_ious(flat.truth, flat.predicted, flat.image_ids, len(flat.classes))
    dataset = [{"id": i, "width": w, "height": h} for i, w, h in images]
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(flat.classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt, dt = COCO(), COCO()
        gt.dataset = {
            "images": dataset,
            "categories": cats,
            "annotations": coco._entries(flat.truth, flat.image_ids, scored=False),
        }
        dt.dataset = {
            "images": dataset,
            "categories": cats,
            "annotations": coco._entries(flat.predicted, flat.image_ids, scored=True),
        }
        gt.createIndex()
        dt.createIndex()
        evaluator = COCOeval_faster(gt, dt, "bbox", separate_eval=True)
        evaluator.params.maxDets = [coco.MAX_DETS]
        evaluator._prepare()
    groups = sorted(evaluator._nonempty_iou_pairs)
    crowded = [g for g in groups if g not in ours]
    assert crowded and all(g[0] == 21 for g in crowded)  # image 7: left to faster-coco-eval
    assert sum(np.count_nonzero(ours[g] >= 0.5) for g in ours) > 20
    for group in groups:
        if group in ours:
            assert np.array_equal(np.asarray(evaluator.computeIoU(*group)), ours[group]), group


def test_precomputed_ious_change_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    images, bodies = _bodies(2)
    flat = flat_of_bodies(images, bodies)
    fast = coco.average_precision(flat)
    monkeypatch.setattr(coco, "box_ious", lambda *args: {})  # faster-coco-eval's own IoU
    plain = coco.average_precision(flat)
    assert (fast > 0).any()
    assert np.array_equal(fast, plain)


def test_a_coordinate_that_is_no_number_leaves_out_only_its_image() -> None:
    images, bodies = _bodies(3)
    bad = json.dumps({"predictions": [{"x": "5", "y": 1, "width": 2, "height": 2, "class": "a"}]})
    bodies[5] = (("json", bad), bodies[5][1])
    flat = flat_of_bodies(images, bodies)
    assert flat.image_ids.tolist() == [i for i, _, _ in images if i != images[5][0]]
    assert flat.truth.xyxy.shape[0] == sum(
        len(json.loads(t[1])["predictions"]) for k, (t, _) in enumerate(bodies) if k != 5
    )

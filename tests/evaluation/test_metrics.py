"""Evaluation figures: hand-known cases, and mAP against pycocotools on a generated set."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.evaluation.cocoref import coco_bbox_eval
from winnow.evaluation.classification import evaluate_classification
from winnow.evaluation.detection import evaluate_detection
from winnow.evaluation.matching import classification_corrections, detection_corrections
from winnow.evaluation.samples import Box, ClassificationSample, DetectionSample


def box(name: str, x1: float, y1: float, x2: float, y2: float, conf: float = 1.0) -> Box:
    return Box(name, (x1, y1, x2, y2), conf)


def two_class_images() -> list[DetectionSample]:
    return [
        DetectionSample(
            1, 200, 200, truth=[box("cat", 10, 10, 50, 50), box("dog", 100, 100, 180, 160)]
        ),
        DetectionSample(2, 200, 200, truth=[box("cat", 20, 30, 90, 80)]),
        DetectionSample(
            3, 200, 200, truth=[box("dog", 0, 0, 40, 100), box("dog", 120, 20, 190, 90)]
        ),
    ]


def test_a_perfect_model_scores_one_everywhere() -> None:
    samples = two_class_images()
    for s in samples:
        s.predicted = [Box(b.class_name, b.xyxy, 0.9) for b in s.truth]
    report = evaluate_detection(samples)
    assert report["images"] == 3
    assert report["map"] == pytest.approx(1.0)
    assert report["map50"] == pytest.approx(1.0)
    assert report["precision"] == 1.0
    assert report["recall"] == 1.0
    assert report["per_class"]["cat"]["support"] == 2
    assert report["per_class"]["dog"]["support"] == 3
    assert report["confusion"] == {
        "labels": ["cat", "dog", "background"],
        "matrix": [[2, 0, 0], [0, 3, 0], [0, 0, 0]],
    }
    assert report["worst_images"] == []


def test_a_model_that_misses_one_class_scores_zero_on_it() -> None:
    samples = two_class_images()
    for s in samples:
        s.predicted = [Box(b.class_name, b.xyxy, 0.8) for b in s.truth if b.class_name == "cat"]
    report = evaluate_detection(samples)
    cat, dog = report["per_class"]["cat"], report["per_class"]["dog"]
    assert cat["ap"] == pytest.approx(1.0)
    assert dog["ap"] == 0.0
    assert dog["recall"] == 0.0
    assert dog["precision"] is None  # never predicted
    assert report["map"] == pytest.approx(0.5)
    assert report["recall"] == pytest.approx(2 / 5)
    # Three dog boxes missed: the background column of the dog row.
    assert report["confusion"]["matrix"][1] == [0, 0, 3]
    assert report["worst_images"][0] == {"image_id": 3, "false_positives": 0, "misses": 2}


def test_shifted_boxes_pass_at_iou_half_but_not_at_stricter_thresholds() -> None:
    # A 100x100 box shifted by 20 px: IoU = 80*100 / (2*10000 - 8000) = 2/3.
    truth = [box("car", 0, 0, 100, 100)]
    samples = [
        DetectionSample(1, 300, 300, truth=truth, predicted=[box("car", 20, 0, 120, 100, 0.9)])
    ]
    report = evaluate_detection(samples)
    assert report["map50"] == pytest.approx(1.0)
    # Matched at IoU .50, .55, .60, .65 of the ten thresholds .50:.05:.95.
    assert report["map"] == pytest.approx(0.4)
    assert report["precision"] == 1.0


def test_a_wrong_class_is_one_false_positive_and_one_miss_in_the_confusion_matrix() -> None:
    samples = [
        DetectionSample(
            1, 100, 100, truth=[box("cat", 0, 0, 50, 50)], predicted=[box("dog", 0, 0, 50, 50, 0.7)]
        )
    ]
    report = evaluate_detection(samples)
    assert report["confusion"]["matrix"] == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert report["per_class"]["dog"]["ap"] is None  # no human dog
    assert report["per_class"]["dog"]["precision"] == 0.0
    assert report["worst_images"] == [{"image_id": 1, "false_positives": 1, "misses": 1}]


def test_no_predictions_at_all_scores_zero() -> None:
    report = evaluate_detection(two_class_images())
    assert report["map"] == 0.0
    assert report["recall"] == 0.0
    assert report["precision"] is None


def _generated(seed: int) -> list[DetectionSample]:
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c", "d"]
    samples = []
    for image_id in range(1, 61):
        truth, predicted = [], []
        for _ in range(int(rng.integers(0, 9))):
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(8, 120, 2)
            name = names[int(rng.integers(0, 4))]
            truth.append(box(name, x, y, x + w, y + h))
            if rng.uniform() < 0.8:
                dx, dy = rng.normal(0, 0.15 * w), rng.normal(0, 0.15 * h)
                label = name if rng.uniform() < 0.85 else names[int(rng.integers(0, 4))]
                predicted.append(
                    box(label, x + dx, y + dy, x + dx + w, y + dy + h, float(rng.uniform()))
                )
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 500, 2)
            predicted.append(
                box(
                    names[int(rng.integers(0, 4))], x, y, x + 40, y + 30, float(rng.uniform(0, 0.6))
                )
            )
        samples.append(DetectionSample(image_id, 640, 640, truth, predicted))
    return samples


def _pycocotools_stats(
    samples: list[DetectionSample], names: list[str]
) -> tuple[float, float, Any, Any]:
    ev = coco_bbox_eval(samples, names, summarize=True)
    tp = np.zeros(len(names), dtype=int)
    for entry in ev.evalImgs:  # area range "all" comes first, IoU 0.5 is row 0
        if entry is not None and entry["aRng"] == ev.params.areaRng[0]:
            tp[entry["category_id"] - 1] += int((entry["dtMatches"][0] > 0).sum())
    return float(ev.stats[0]), float(ev.stats[1]), ev.eval["precision"], tp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_matches_pycocotools_on_a_generated_set(seed: int) -> None:
    samples = _generated(seed)
    assert sum(len(s.truth) for s in samples) > 150
    report = evaluate_detection(samples)
    names = sorted(report["per_class"])
    stats_map, stats_map50, precision, tp = _pycocotools_stats(samples, names)
    assert report["map"] == pytest.approx(stats_map, abs=1e-9)
    assert report["map50"] == pytest.approx(stats_map50, abs=1e-9)
    for k, name in enumerate(names):
        per_class = precision[:, :, k, 0, -1]
        assert report["per_class"][name]["ap"] == pytest.approx(
            per_class[per_class > -1].mean(), abs=1e-9
        )
        # Precision and recall at IoU 0.5 rest on the same greedy matching as COCO's.
        assert report["per_class"][name]["tp"] == tp[k]


def test_detection_corrections_count_added_removed_and_relabeled_boxes() -> None:
    truth = [box("cat", 0, 0, 10, 10), box("dog", 50, 50, 60, 60), box("cat", 80, 80, 90, 90)]
    predicted = [
        box("cat", 0, 0, 10, 10),
        box("cat", 50, 50, 60, 60),
        box("cat", 200, 200, 210, 210),
    ]
    # kept, relabeled dog, one added by the person, one removed.
    assert detection_corrections(truth, predicted) == 3
    assert detection_corrections(truth, truth) == 0


def test_classification_figures_by_hand() -> None:
    samples = [
        ClassificationSample(1, ("cat",), ("cat",)),
        ClassificationSample(2, ("cat",), ("dog",)),
        ClassificationSample(3, ("dog",), ("dog",)),
        ClassificationSample(4, ("dog",), ()),
    ]
    report = evaluate_classification(samples, multi_label=False)
    assert report["accuracy"] == 0.5
    assert report["per_class"]["cat"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "predicted": 1,
        "tp": 1,
    }
    assert report["per_class"]["dog"]["precision"] == 0.5
    assert report["per_class"]["dog"]["recall"] == 0.5
    assert report["confusion"] == {
        "labels": ["cat", "dog", "(none)"],
        "matrix": [[1, 1, 0], [0, 1, 1], [0, 0, 0]],
    }
    assert report["corrections"] == 2


def test_multi_label_figures_count_each_class_decision() -> None:
    samples = [
        ClassificationSample(1, ("sky", "tree"), ("sky",)),
        ClassificationSample(2, ("sky",), ("sky", "tree")),
    ]
    report = evaluate_classification(samples, multi_label=True)
    assert report["per_class"]["sky"]["f1"] == 1.0
    assert report["per_class"]["tree"]["precision"] == 0.0
    assert report["per_class"]["tree"]["recall"] == 0.0
    assert report["accuracy"] == 0.0
    assert report["confusion"] is None
    assert classification_corrections(("sky", "tree"), ("sky",)) == 1
    assert classification_corrections(("cat",), ("dog",)) == 1


def polygon_box(name: str, x1: float, y1: float, x2: float, y2: float, conf: float = 1.0) -> Box:
    """A box whose polygon is a diamond inside it (so segm and bbox IoU differ)."""
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return Box(name, (x1, y1, x2, y2), conf, (cx, y1, x2, cy, cx, y2, x1, cy))


def test_segmentation_is_scored_on_polygons_like_pycocotools() -> None:
    truth = [polygon_box("leaf", 10, 10, 110, 110), polygon_box("leaf", 200, 200, 260, 280)]
    predicted = [
        polygon_box("leaf", 25, 10, 125, 110, 0.9),
        polygon_box("leaf", 200, 200, 260, 280, 0.8),
    ]
    samples = [DetectionSample(1, 320, 320, truth, predicted)]
    segm = evaluate_detection(samples, iou_type="segm")
    boxes = evaluate_detection(samples, iou_type="bbox")
    assert segm["map"] != boxes["map"]  # a 15 px shift costs a diamond more IoU than its box
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": [{"id": 1, "width": 320, "height": 320}],
            "categories": [{"id": 1, "name": "leaf"}],
            "annotations": [
                {
                    "id": i + 1,
                    "image_id": 1,
                    "category_id": 1,
                    "iscrowd": 0,
                    "segmentation": [list(b.polygon or ())],
                    "area": float(COCO_AREA(b)),
                    "bbox": [b.xyxy[0], b.xyxy[1], b.xyxy[2] - b.xyxy[0], b.xyxy[3] - b.xyxy[1]],
                }
                for i, b in enumerate(truth)
            ],
        }
        gt.createIndex()
        dt = COCO()  # loadRes takes RLE for segm; polygons go in as they do for the truth
        dt.dataset = {
            "images": gt.dataset["images"],
            "categories": gt.dataset["categories"],
            "annotations": [
                {
                    **entry,
                    "id": i + 1,
                    "segmentation": [list(b.polygon or ())],
                    "score": b.confidence,
                    "bbox": [b.xyxy[0], b.xyxy[1], b.xyxy[2] - b.xyxy[0], b.xyxy[3] - b.xyxy[1]],
                    "area": COCO_AREA(b),
                }
                for i, (b, entry) in enumerate(
                    zip(predicted, gt.dataset["annotations"], strict=True)
                )
            ],
        }
        dt.createIndex()
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert segm["map"] == pytest.approx(ev.stats[0], abs=1e-9)
    assert segm["map50"] == pytest.approx(ev.stats[1], abs=1e-9)


def COCO_AREA(b: Box) -> float:
    x1, y1, x2, y2 = b.xyxy
    return (x2 - x1) * (y2 - y1) / 2  # a diamond fills half its box


@pytest.mark.parametrize("seed", [3, 4])
def test_matching_all_images_at_once_equals_matching_each_image(seed: int) -> None:
    from winnow.evaluation.flat import match_all, rows_of
    from winnow.evaluation.matching import match_both

    samples = _generated(seed)
    names = sorted({b.class_name for s in samples for b in (*s.truth, *s.predicted)})
    index = {n: i for i, n in enumerate(names)}
    truth, predicted = rows_of(samples, index, truth=True), rows_of(samples, index, truth=False)
    flat = match_all(truth, predicted, len(samples))
    expected_aware, expected_agnostic = set(), set()
    t_base = p_base = 0
    for s in samples:
        aware, agnostic = match_both(s.truth, s.predicted)
        expected_aware |= {(p_base + i, t_base + j) for i, j in aware.pairs}
        expected_agnostic |= {(p_base + i, t_base + j) for i, j in agnostic.pairs}
        t_base, p_base = t_base + len(s.truth), p_base + len(s.predicted)
    assert set(zip(*(a.tolist() for a in flat.aware), strict=True)) == expected_aware
    assert set(zip(*(a.tolist() for a in flat.agnostic), strict=True)) == expected_agnostic
    assert len(expected_agnostic) > 100


def test_a_body_that_is_not_detection_json_leaves_out_only_its_image() -> None:
    import json

    from winnow.evaluation.query import Pair, detection_samples

    good = json.dumps(
        {
            "image": {"width": 10, "height": 10},
            "predictions": [
                {"x": 5, "y": 5, "width": 4, "height": 4, "class": "a", "confidence": 0.5}
            ],
        }
    )
    pairs = [
        Pair((1, 10, 10), ("json", good), ("json", good)),
        Pair((2, 10, 10), ("json", good), ("json", "{not json")),
        Pair((3, 10, 10), ("txt", "a"), ("json", good)),
        Pair((4, 10, 10), ("json", good), ("json", '{"predictions": {"a": 1}}')),
    ]
    samples = detection_samples(pairs)
    assert [s.image_id for s in samples] == [1]
    assert samples[0].truth[0].xyxy == (3.0, 3.0, 7.0, 7.0)
    # Every body fine: the joined parse gives the same boxes.
    assert detection_samples(pairs[:1])[0].predicted == samples[0].predicted

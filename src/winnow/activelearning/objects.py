"""The objects of a prediction, and which of them pass a strategy's ``conditions``.

Pure functions of the prediction (the image is never looked at). What an
*object* is, per task type, and what each condition field measures on it:

=====================  ==============================  ===================================
                       detection-like (each box)       classification
=====================  ==============================  ===================================
objects                every detection                 single-label: one, the top class
                                                       (none when no class was scored);
                                                       multi-label: every scored class
``classes``            the detection's class           the class's name
``confidence``         the detection's confidence      the class's confidence
``width``/``height``   box width / height, pixels      the image's width / height
``area``               ``w*h / (W*H)`` of the image    1
``aspect``             ``w / h`` (inf when h is 0)     ``W / H``
``region``             box centre ``(x/W, y/H)``       the image centre ``(0.5, 0.5)``
=====================  ==============================  ===================================

(``W, H``: the size of the image the prediction was made on.) A
classification's object is the whole image, so box conditions read the
image. Stubs have no objects.

Every range is ``[low, high]``, both ends inclusive (``low <= v <= high``);
``None`` (JSON ``null``) leaves that end open. A value that is not a number
(``nan``: an area or centre of an image of size 0, the aspect of a 0 x 0
box) passes no range and no region. A centre passes a ``region`` (polygon in
relative coordinates, any orientation) when it is inside or on an edge: the
even-odd rule, edges exact for axis-aligned rectangles and up to float
rounding on slanted edges. An object passes a list of conditions when it
passes every field of every condition (several conditions combine by AND,
exactly as one condition holding all their fields would).

``min_objects`` (default 1) and ``max_objects`` (default none) bound how many
objects must pass for a strategy with conditions to match
(:meth:`ObjectTest.count_ok`); :func:`restrict` gives the prediction the
strategy's own rule then sees: only the passing objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from winnow.predictions import (
    ClassificationPrediction,
    ClassScore,
    Detection,
    DetectionPrediction,
    Prediction,
)

if TYPE_CHECKING:
    from winnow.activelearning.config.conditions import ObjectCondition

Bounds = tuple[float, float]
# (detections, 1/W, 1/H, 1/(W*H)) -> the passing detections
DetectionFilter = Callable[[list[Detection], float, float, float], list[Detection]]
Polygon = tuple[tuple[float, float], ...]
_OPEN: Bounds = (-math.inf, math.inf)


@dataclass(frozen=True, slots=True)
class ObjectTest:
    """A list of conditions compiled into one test (ranges intersected, regions collected).

    ``None`` fields do not filter. ``rect`` is the intersection of the
    axis-aligned rectangular regions, as ``(x0, y0, x1, y1)``; ``polygons``
    the other regions, each of which the centre must be inside too.
    """

    classes: frozenset[str] | None = None
    confidence: Bounds | None = None
    width: Bounds | None = None
    height: Bounds | None = None
    area: Bounds | None = None
    aspect: Bounds | None = None
    rect: tuple[float, float, float, float] | None = None
    polygons: tuple[Polygon, ...] = ()
    min_objects: int = 1
    max_objects: int | None = None
    # The generated filter of detections (see _detection_filter), built on creation.
    detection_filter: DetectionFilter = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detection_filter", _detection_filter(self))

    def count_ok(self, count: int) -> bool:
        """Whether ``count`` passing objects are enough and not too many."""
        return count >= self.min_objects and (self.max_objects is None or count <= self.max_objects)


def _bounds(value: tuple[float | None, float | None] | None) -> Bounds | None:
    if value is None:
        return None
    low, high = value
    return (-math.inf if low is None else low, math.inf if high is None else high)


def _intersect(a: Bounds | None, b: Bounds | None) -> Bounds | None:
    if a is None or b is None:
        return a if b is None else b
    return (max(a[0], b[0]), min(a[1], b[1]))


def _rectangle(points: Polygon) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` when the polygon is an axis-aligned rectangle, else None."""
    xs = sorted({x for x, _ in points})
    ys = sorted({y for _, y in points})
    if len(points) != 4 or len(xs) != 2 or len(ys) != 2:
        return None
    corners = {(x, y) for x in xs for y in ys}
    if set(points) != corners:
        return None
    for i in range(4):  # each edge changes one coordinate: no bow tie
        (ax, ay), (bx, by) = points[i - 1], points[i]
        if (ax != bx) == (ay != by):
            return None
    return (xs[0], ys[0], xs[1], ys[1])


def _box_intersection(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def compile_conditions(
    conditions: Sequence[ObjectCondition],
    min_objects: int | None = None,
    max_objects: int | None = None,
) -> ObjectTest:
    """One :class:`ObjectTest` for a list of conditions and the count bounds (None: defaults)."""
    classes: frozenset[str] | None = None
    ranges: dict[str, Bounds | None] = dict.fromkeys(
        ("confidence", "width", "height", "area", "aspect")
    )
    rect: tuple[float, float, float, float] | None = None
    polygons: list[Polygon] = []
    for condition in conditions:
        if condition.classes is not None:
            names = frozenset(condition.classes)
            classes = names if classes is None else classes & names
        for name in ranges:
            ranges[name] = _intersect(ranges[name], _bounds(getattr(condition, name)))
        if condition.region is not None:
            points = tuple((float(x), float(y)) for x, y in condition.region)
            box = _rectangle(points)
            if box is None:
                polygons.append(points)
            else:
                rect = box if rect is None else _box_intersection(rect, box)
    return ObjectTest(
        classes=classes,
        rect=rect,
        polygons=tuple(polygons),
        min_objects=1 if min_objects is None else min_objects,
        max_objects=max_objects,
        **ranges,
    )


def inside(x: float, y: float, polygon: Polygon) -> bool:
    """Whether the point is inside the polygon or on one of its edges.

    Inside: a ray from the point to the right crosses an odd number of edges,
    an edge counting when exactly one of its ends lies strictly below the
    point's ``y`` and the crossing is strictly to the right (the even-odd
    rule). Otherwise the point still counts when it lies on an edge (its
    cross product with the edge is 0 and it is within the edge's extent).
    """
    crossings = False
    x1, y1 = polygon[-1]
    for x0, y0 in polygon:
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            crossings = not crossings
        x1, y1 = x0, y0
    return crossings or _on_edge(x, y, polygon)


def _on_edge(x: float, y: float, polygon: Polygon) -> bool:
    x1, y1 = polygon[-1]
    for x0, y0 in polygon:
        if (
            (x1 - x0) * (y - y0) == (y1 - y0) * (x - x0)
            and min(x0, x1) <= x <= max(x0, x1)
            and min(y0, y1) <= y <= max(y0, y1)
        ):
            return True
        x1, y1 = x0, y0
    return False


def _in_regions(test: ObjectTest, x: float, y: float) -> bool:
    rect = test.rect
    if rect is not None and not (rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]):
        return False
    return all(inside(x, y, polygon) for polygon in test.polygons)


# The detection filter of an ObjectTest is generated code: one list comprehension
# holding only the comparisons the conditions set, cheap and selective ones first
# (4-5x fewer operations per box than a loop testing every field). The source is
# built from fixed fragments only; every value is bound by name in its namespace.
def _compare(expression: str, bounds: Bounds, name: str, namespace: dict[str, object]) -> str:
    """``low <= expression <= high`` with each infinite end left out (NaN fails either way)."""
    low, high = bounds
    namespace[f"{name}_lo"], namespace[f"{name}_hi"] = low, high
    if low == -math.inf and high == math.inf:
        return f"({expression}) == ({expression})"  # only a NaN fails
    if low == -math.inf:
        return f"{expression} <= {name}_hi"
    if high == math.inf:
        return f"{name}_lo <= {expression}"
    return f"{name}_lo <= {expression} <= {name}_hi"


def _detection_filter(test: ObjectTest) -> DetectionFilter:
    namespace: dict[str, object] = {"ratio": _ratio, "inside_all": _inside_all}
    terms: list[str] = []
    if test.classes is not None:
        namespace["classes"] = test.classes
        terms.append("d.class_name in classes")
    for name, expression in (
        ("confidence", "d.confidence"),
        ("width", "d.width"),
        ("height", "d.height"),
        ("area", "d.width * d.height * per_pixel"),
        ("aspect", "ratio(d.width, d.height)"),
    ):
        bounds = getattr(test, name)
        if bounds is not None:
            terms.append(_compare(expression, bounds, name, namespace))
    box = test.rect
    for polygon in test.polygons:  # a centre outside a polygon's bounding box is outside it
        xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
        bounds = (min(xs), min(ys), max(xs), max(ys))
        box = bounds if box is None else _box_intersection(box, bounds)
    if box is not None:
        x0, y0, x1, y1 = box
        terms.append(_compare("d.x * per_x", (x0, x1), "rect_x", namespace))
        terms.append(_compare("d.y * per_y", (y0, y1), "rect_y", namespace))
    if test.polygons:
        namespace["polygons"] = test.polygons
        terms.append("inside_all(d.x * per_x, d.y * per_y, polygons)")
    condition = " and ".join(terms) or "True"
    source = (
        "def passing(detections, per_x, per_y, per_pixel):\n"
        f"    return [d for d in detections if {condition}]\n"
    )
    exec(source, namespace)  # noqa: S102 - fixed fragments, values bound by name
    return namespace["passing"]  # type: ignore[return-value]


def _inside_all(x: float, y: float, polygons: tuple[Polygon, ...]) -> bool:
    return all(inside(x, y, polygon) for polygon in polygons)


def image_scale(width: int, height: int) -> tuple[float, float, float]:
    """``(1/W, 1/H, 1/(W*H))``, the arguments of a detection filter (nan for a size of 0)."""
    pixels = width * height
    return (
        1 / width if width > 0 else math.nan,
        1 / height if height > 0 else math.nan,
        1 / pixels if pixels > 0 else math.nan,
    )


def _passing_detections(
    test: ObjectTest, detections: list[Detection], width: int, height: int
) -> list[Detection]:
    return test.detection_filter(detections, *image_scale(width, height))


def _ratio(w: float, h: float) -> float:
    if h:
        return w / h
    return math.inf if w else math.nan


def _image_passes(test: ObjectTest, width: int, height: int) -> bool:
    """The box conditions on a classification's object: the whole image."""
    for bounds, value in (
        (test.width, float(width)),
        (test.height, float(height)),
        (test.area, 1.0 if width > 0 and height > 0 else math.nan),
        (test.aspect, _ratio(width, height)),
    ):
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            return False
    if test.rect is None and not test.polygons:
        return True
    return width > 0 and height > 0 and _in_regions(test, 0.5, 0.5)


def _passing_classes(
    test: ObjectTest, scores: Sequence[ClassScore], width: int, height: int
) -> list[ClassScore]:
    if not scores or not _image_passes(test, width, height):
        return []
    classes, confidence = test.classes, test.confidence
    return [
        s
        for s in scores
        if (classes is None or s.class_name in classes)
        and (confidence is None or confidence[0] <= s.confidence <= confidence[1])
    ]


def passing_objects(
    prediction: Prediction, conditions: Sequence[ObjectCondition] | ObjectTest
) -> list[Detection] | list[ClassScore]:
    """The objects of ``prediction`` that pass every condition, in prediction order.

    Detections for detection-like predictions; class scores for
    classifications (single-label: at most the top class; multi-label: any
    scored class); ``[]`` for stubs. ``conditions`` is a strategy's
    ``conditions`` or an :class:`ObjectTest` compiled from them (faster).
    """
    test = conditions if isinstance(conditions, ObjectTest) else compile_conditions(conditions)
    if isinstance(prediction, DetectionPrediction):
        image = prediction.image
        return _passing_detections(test, prediction.detections, image.width, image.height)
    if isinstance(prediction, ClassificationPrediction):
        image = prediction.image
        if prediction.multi_label:
            return _passing_classes(test, prediction.classes, image.width, image.height)
        top = prediction.top
        return [] if top is None else _passing_classes(test, [top], image.width, image.height)
    return []


def restrict(prediction: Prediction, passing: list[Detection] | list[ClassScore]) -> Prediction:
    """The prediction as a strategy with conditions sees it: only its passing objects.

    Detection-like: the detections are ``passing``. Multi-label: the scored
    and the predicted classes are those in ``passing``. Single-label: the
    prediction unchanged when its top class passed, else one with no classes.
    Stubs are returned as they are.
    """
    if isinstance(prediction, DetectionPrediction):
        return DetectionPrediction(
            task_type=prediction.task_type,
            image=prediction.image,
            detections=passing,  # type: ignore[arg-type]
            inference_id=prediction.inference_id,
            time=prediction.time,
        )
    if not isinstance(prediction, ClassificationPrediction):
        return prediction
    if not prediction.multi_label and passing:
        return prediction
    kept = {s.class_name for s in passing}
    return ClassificationPrediction(
        image=prediction.image,
        classes=list(passing),  # type: ignore[arg-type]
        multi_label=prediction.multi_label,
        predicted_classes=[c for c in prediction.predicted_classes if c in kept],
        inference_id=prediction.inference_id,
        time=prediction.time,
    )

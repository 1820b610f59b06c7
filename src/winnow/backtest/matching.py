"""Which records each strategy matches, over whole columns at once.

:func:`strategy_mask` gives, per record, what
:func:`winnow.activelearning.samplers.matches` answers for the prediction the
record logged (before the probability draw); ``tests/backtest`` proves the
two equal on generated records of every task. Strategy types (or fields, such
as object ``conditions``) without a vectorized form here are judged by the
samplers themselves, one record at a time (``Columns.predictions``):
slower, never different.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from winnow.activelearning.config import (
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DetectionsNumberBasedStrategy,
    RandomStrategy,
    UncertaintyStrategy,
)
from winnow.activelearning.samplers import matches
from winnow.activelearning.score_windows import ScoreWindows
from winnow.backtest.records import (
    CLASSIFICATION,
    DETECTION_TASKS,
    MULTI_LABEL,
    BoolArray,
    Columns,
    FloatArray,
    IntArray,
)


def score_windows() -> ScoreWindows:
    """A fresh set of ``top_fraction`` score windows for one replay: a backtest ranks scores
    among its own records, never in the live windows."""
    return ScoreWindows()


def vectorized(strategy: Any) -> bool:
    """Whether :func:`strategy_mask` has a column-wise form of this strategy: the four
    reference types, with object ``conditions`` unless they hold a non-rectangular region."""
    test = getattr(strategy, "object_test", None)
    if test is None and getattr(strategy, "conditions", None):
        return False  # conditions without their compiled test: the samplers judge them
    if test is not None and test.polygons:
        return False
    if isinstance(strategy, UncertaintyStrategy):
        return strategy.top_fraction is None  # a rolling rank: the samplers, in time order
    return isinstance(
        strategy,
        RandomStrategy
        | CloseToThresholdStrategy
        | ClassesBasedStrategy
        | DetectionsNumberBasedStrategy,
    )


def strategy_mask(strategy: Any, cols: Columns, windows: Any = None) -> BoolArray:
    """Per record: the strategy's condition holds (as ``samplers.matches`` says).

    ``windows`` (:func:`score_windows`) are handed to the samplers for the strategies judged
    one record at a time, in time order.
    """
    if not vectorized(strategy):
        return _one_by_one(strategy, cols, windows)
    test = getattr(strategy, "object_test", None)
    view = _View(cols) if test is None else _restricted(test, cols)
    out: BoolArray
    if isinstance(strategy, RandomStrategy):
        out = np.ones(cols.n, dtype=bool)
    elif isinstance(strategy, CloseToThresholdStrategy):
        out = _close_to_threshold(strategy, cols, view)
    elif isinstance(strategy, ClassesBasedStrategy):
        out = _classes_based(strategy, cols, view)
    elif isinstance(strategy, UncertaintyStrategy):
        out = _uncertain(strategy, cols, view, windows)
    else:
        assert isinstance(strategy, DetectionsNumberBasedStrategy)
        out = _detections_number_based(strategy, cols, view)
    return out if view.count_ok is None else out & view.count_ok


class _View:
    """The objects a strategy's rule sees: all of them, or (with conditions) the passing ones.

    ``keep``: per object, in the prediction the rule sees (``objects.restrict``); ``total``:
    per record, the detections it holds; ``count_ok``: the conditions' count bounds.
    """

    def __init__(
        self,
        cols: Columns,
        keep: BoolArray | None = None,
        total: IntArray | None = None,
        count_ok: BoolArray | None = None,
    ) -> None:
        self.keep = np.ones(len(cols.obj_class), dtype=bool) if keep is None else keep
        self.total = cols.objects_total if total is None else total
        self.count_ok = count_ok


def _between(values: FloatArray, bounds: tuple[float, float] | None) -> BoolArray:
    """``low <= value <= high`` (both ends inclusive; NaN fails), or all True without bounds."""
    if bounds is None:
        return np.ones(len(values), dtype=bool)
    return (bounds[0] <= values) & (values <= bounds[1])


def _ratio(w: FloatArray, h: FloatArray) -> FloatArray:
    """``w / h``; ``inf`` when only h is 0, NaN when both are (as ``objects._ratio``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = w / np.where(h != 0, h, 1.0)
    return np.where(h != 0, ratio, np.where(w != 0, np.inf, np.nan))


def _restricted(test: Any, cols: Columns) -> _View:
    """The objects passing ``test`` (``objects.passing_objects``, column-wise) and what the
    rule then sees (``objects.restrict``)."""
    width = np.asarray(cols.table.column("width").fill_null(0).to_numpy(), dtype=np.float64)
    height = np.asarray(cols.table.column("height").fill_null(0).to_numpy(), dtype=np.float64)
    sized = (width > 0) & (height > 0)
    with np.errstate(divide="ignore"):
        per_x = np.where(width > 0, 1 / np.where(width > 0, width, 1.0), np.nan)
        per_y = np.where(height > 0, 1 / np.where(height > 0, height, 1.0), np.nan)
        pixels = width * height
        per_pixel = np.where(pixels > 0, 1 / np.where(pixels > 0, pixels, 1.0), np.nan)
    owner = cols.obj_record
    conf = cols.obj_confidence
    named = cols.obj_in(test.classes) & _between(conf, test.confidence)
    # detection-like: each box (only the fields the conditions set are computed)
    w, h = cols.obj_field("w"), cols.obj_field("h")
    box = named.copy()
    if test.width is not None:
        box &= _between(w, test.width)
    if test.height is not None:
        box &= _between(h, test.height)
    if test.area is not None:
        box &= _between(w * h * per_pixel[owner], test.area)
    if test.aspect is not None:
        box &= _between(_ratio(w, h), test.aspect)
    if test.rect is not None:
        x0, y0, x1, y1 = test.rect
        box &= _between(cols.obj_field("x") * per_x[owner], (x0, x1))
        box &= _between(cols.obj_field("y") * per_y[owner], (y0, y1))
    # classification: the image is the object's box
    image = _between(width, test.width) & _between(height, test.height)
    image &= _between(np.where(sized, 1.0, np.nan), test.area)
    image &= _between(_ratio(width, height), test.aspect)
    if test.rect is not None:
        x0, y0, x1, y1 = test.rect
        image &= sized & (x0 <= 0.5) & (x1 >= 0.5) & (y0 <= 0.5) & (y1 >= 0.5)
    detection = cols.task_in(DETECTION_TASKS)[owner]
    single = cols.task_in((CLASSIFICATION,))
    multi = cols.task_in((MULTI_LABEL,))[owner]
    scored = named & image[owner]
    top_passes = cols.per_record(scored & cols.obj_is_top) > 0
    passing = (detection & box) | (multi & scored) | (single[owner] & scored & cols.obj_is_top)
    count = cols.per_record(passing)
    count_ok = count >= test.min_objects
    if test.max_objects is not None:
        count_ok &= count <= test.max_objects
    # single-label: the whole prediction when its top class passed, else no classes
    keep = (detection & box) | (multi & scored) | (single & top_passes)[owner]
    return _View(cols, keep=keep, total=cols.per_record(detection & box), count_ok=count_ok)


def _one_by_one(strategy: Any, cols: Columns, windows: Any = None) -> BoolArray:
    kwargs: dict[str, Any] = {} if windows is None else {"windows": windows, "scope": "backtest"}
    return np.fromiter(
        (matches(strategy, prediction, **kwargs) for prediction in cols.predictions),
        dtype=bool,
        count=cols.n,
    )


def _close_to_threshold(
    strategy: CloseToThresholdStrategy, cols: Columns, view: _View
) -> BoolArray:
    close = np.abs(cols.obj_confidence - strategy.threshold) < strategy.epsilon
    close &= cols.obj_in(strategy.selected) & view.keep
    detection = cols.task_in(DETECTION_TASKS)
    out = detection & (cols.per_record(close) >= strategy.minimum_objects_close_to_threshold)
    single = cols.task_in((CLASSIFICATION,))
    multi = cols.task_in((MULTI_LABEL,))
    if strategy.only_top_classes:
        out |= single & (cols.per_record(close & cols.obj_is_top) > 0)
        out |= multi & (cols.per_record(close & cols.obj_predicted) > 0)
    else:
        out |= (single | multi) & (cols.per_record(close) > 0)
    return out


def _classes_based(strategy: ClassesBasedStrategy, cols: Columns, view: _View) -> BoolArray:
    selected = cols.obj_in(strategy.selected or frozenset()) & view.keep
    single = cols.task_in((CLASSIFICATION,)) & (cols.per_record(selected & cols.obj_is_top) > 0)
    multi = cols.task_in((MULTI_LABEL,)) & (cols.per_record(selected & cols.obj_predicted) > 0)
    return single | multi


def _detections_number_based(
    strategy: DetectionsNumberBasedStrategy, cols: Columns, view: _View
) -> BoolArray:
    if strategy.selected is None:
        count = view.total
    else:
        count = cols.per_record(cols.obj_in(strategy.selected) & view.keep)
    out = cols.task_in(DETECTION_TASKS)
    if strategy.more_than is not None:
        out &= count > strategy.more_than
    if strategy.less_than is not None:
        out &= count < strategy.less_than
    return out


# Scores within this of the threshold (or of 0) are judged again by the samplers, so that float
# rounding (numpy's sums and logarithms against Python's) never changes an answer.
_BAND = 1e-9


def _uncertain(
    strategy: UncertaintyStrategy, cols: Columns, view: _View, windows: Any
) -> BoolArray:
    """``score > 0 and score >= threshold`` with the scores of ``activelearning.uncertainty``
    computed column-wise; the records whose score lies within :data:`_BAND` of the threshold or
    of 0 are judged by the samplers themselves."""
    threshold = strategy.threshold
    assert threshold is not None
    score = _scores(strategy.measure, strategy.aggregate, cols, view)
    out = (score > 0.0) & (score >= threshold)
    unsure = (np.abs(score - threshold) <= _BAND * max(1.0, threshold)) | (np.abs(score) <= _BAND)
    # no object to score (none kept, or a stub): 0 on both sides, exactly
    scored = cols.task_in(DETECTION_TASKS | {CLASSIFICATION, MULTI_LABEL})
    unsure &= scored & (cols.per_record(view.keep) > 0)
    if bool(unsure.any()):
        predictions = cols.predictions
        kwargs: dict[str, Any] = (
            {} if windows is None else {"windows": windows, "scope": "backtest"}
        )
        for i in np.flatnonzero(unsure).tolist():
            out[i] = matches(strategy, predictions[i], **kwargs)
    return out


def _segments(values: FloatArray, cols: Columns, fill: float, ufunc: Any) -> FloatArray:
    """``ufunc.reduce`` of each record's values (``fill`` for a record without objects)."""
    out = np.full(cols.n, fill)
    counts = np.diff(cols.offsets)
    filled = np.flatnonzero(counts)
    if len(filled):
        out[filled] = ufunc.reduceat(values, cols.offsets[filled])
    return out


def _scores(measure: str, aggregate: str | None, cols: Columns, view: _View) -> FloatArray:
    """Every record's uncertainty score (``uncertainty.score_prediction`` of what the rule sees)."""
    how = aggregate or ("mean" if measure == "mean_object_confidence" else "max")
    c = np.clip(np.nan_to_num(cols.obj_confidence, nan=0.0), 0.0, 1.0)
    keep = view.keep
    n = cols.per_record(keep).astype(np.float64)
    owner = cols.obj_record
    single = cols.task_in((CLASSIFICATION,))
    decisions = cols.task_in((MULTI_LABEL,))
    scored = cols.task_in(DETECTION_TASKS) | decisions
    # detections and multi-label decisions: per object d = |2c - 1|
    d = np.abs(c + c - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "entropy":
            inner = (c > 0.0) & (c < 1.0)
            safe = np.where(inner, c, 0.5)
            bits = np.where(inner, -(safe * np.log2(safe) + (1.0 - safe) * np.log2(1.0 - safe)), 0)
            if how == "max":
                low = _segments(np.where(keep, d, np.inf), cols, np.inf, np.minimum)
                half = 0.5 + low / 2
                ok = (half > 0.0) & (half < 1.0)
                h = np.where(ok, half, 0.5)
                score = np.where(ok, -(h * np.log2(h) + (1.0 - h) * np.log2(1.0 - h)), 0.0)
            else:
                total = _segments(np.where(keep, bits, 0.0), cols, 0.0, np.add)
                score = total / n if how == "mean" else total
        elif measure in ("least_confidence", "mean_object_confidence"):
            lowest = _segments(np.where(keep, c, np.inf), cols, np.inf, np.minimum)
            total = _segments(np.where(keep, c, 0.0), cols, 0.0, np.add)
            plain = (
                1.0 - lowest if how == "max" else (1.0 - total / n if how == "mean" else n - total)
            )
            # a multi-label class is a yes/no decision: half the margin's score
            low_d = _segments(np.where(keep, d, np.inf), cols, np.inf, np.minimum)
            sum_d = _segments(np.where(keep, d, 0.0), cols, 0.0, np.add)
            margin = 1.0 - low_d if how == "max" else n - sum_d
            if how == "mean":
                margin = margin / n
            score = np.where(decisions, margin / 2, plain)
        else:  # margin
            low_d = _segments(np.where(keep, d, np.inf), cols, np.inf, np.minimum)
            sum_d = _segments(np.where(keep, d, 0.0), cols, 0.0, np.add)
            score = 1.0 - low_d if how == "max" else n - sum_d
            if how == "mean":
                score = score / n
        score = np.where(scored & (n > 0), score, 0.0)
        # single-label: the class confidences sorted p1 >= p2 >= ... (all of them, or none)
        p1 = _segments(np.where(keep, c, -np.inf), cols, -np.inf, np.maximum)
        rest = keep & ~cols.obj_is_top
        p2 = _segments(np.where(rest, c, -np.inf), cols, -np.inf, np.maximum)
        p2 = np.where(np.isfinite(p2), p2, 0.0)
        if measure == "margin":
            label = 1.0 - (p1 - p2)
        elif measure == "entropy":
            total = _segments(np.where(keep, c, 0.0), cols, 0.0, np.add)
            share = c / np.where(total[owner] > 0, total[owner], 1.0)
            terms = np.where(keep & (c > 0.0), share * np.log(np.where(share > 0, share, 1.0)), 0)
            h = -_segments(terms, cols, 0.0, np.add)
            k = n
            label = np.where(
                k < 2, 0.0, np.where(total <= 0.0, 1.0, np.minimum(1.0, h / np.log(k)))
            )
        else:
            label = 1.0 - p1
        label = np.where(n > 0, label, 0.0)
    return np.where(single, label, score)

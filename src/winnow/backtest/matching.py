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

import importlib
from typing import Any

import numpy as np

from winnow.activelearning.config import (
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DetectionsNumberBasedStrategy,
    RandomStrategy,
)
from winnow.activelearning.samplers import matches
from winnow.backtest.records import (
    CLASSIFICATION,
    DETECTION_TASKS,
    MULTI_LABEL,
    BoolArray,
    Columns,
)


def score_windows() -> Any:
    """A fresh set of ``top_fraction`` score windows for one replay (None where the samplers
    keep none): a backtest ranks scores among its own records, never in the live windows."""
    try:
        module: Any = importlib.import_module("winnow.activelearning.score_windows")
    except ImportError:
        return None
    return module.ScoreWindows()


def vectorized(strategy: Any) -> bool:
    """Whether :func:`strategy_mask` has a column-wise form of this strategy."""
    if getattr(strategy, "conditions", None) or getattr(strategy, "object_test", None):
        return False
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
    if isinstance(strategy, RandomStrategy):
        return np.ones(cols.n, dtype=bool)
    if isinstance(strategy, CloseToThresholdStrategy):
        return _close_to_threshold(strategy, cols)
    if isinstance(strategy, ClassesBasedStrategy):
        return _classes_based(strategy, cols)
    assert isinstance(strategy, DetectionsNumberBasedStrategy)
    return _detections_number_based(strategy, cols)


def _one_by_one(strategy: Any, cols: Columns, windows: Any = None) -> BoolArray:
    kwargs: dict[str, Any] = {} if windows is None else {"windows": windows, "scope": "backtest"}
    return np.fromiter(
        (matches(strategy, prediction, **kwargs) for prediction in cols.predictions),
        dtype=bool,
        count=cols.n,
    )


def _close_to_threshold(strategy: CloseToThresholdStrategy, cols: Columns) -> BoolArray:
    close = np.abs(cols.obj_confidence - strategy.threshold) < strategy.epsilon
    close &= cols.obj_in(strategy.selected)
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


def _classes_based(strategy: ClassesBasedStrategy, cols: Columns) -> BoolArray:
    selected = cols.obj_in(strategy.selected or frozenset())
    single = cols.task_in((CLASSIFICATION,)) & (cols.per_record(selected & cols.obj_is_top) > 0)
    multi = cols.task_in((MULTI_LABEL,)) & (cols.per_record(selected & cols.obj_predicted) > 0)
    return single | multi


def _detections_number_based(strategy: DetectionsNumberBasedStrategy, cols: Columns) -> BoolArray:
    if strategy.selected is None:
        count = cols.objects_total
    else:
        count = cols.per_record(cols.obj_in(strategy.selected))
    out = cols.task_in(DETECTION_TASKS)
    if strategy.more_than is not None:
        out &= count > strategy.more_than
    if strategy.less_than is not None:
        out &= count < strategy.less_than
    return out

"""The backtest: a window of prediction records replayed through an active learning configuration.

:func:`backtest` answers "what would this configuration have collected from
these predictions, under its limits?" and, beside it, what the configuration
in force really did (the records' own ``outcome``, ``paid`` and ``matched``).
It decides each record as ``Collector.process`` decides a datapoint:

1. a disabled configuration (or one without ``batching_strategy``): ``disabled``;
2. a prediction whose task does not fit the project type, or a
   ``target_workspace`` that is not the project's: ``refused``;
3. the strategies in configuration order, matched as ``samplers.matches``
   (:mod:`winnow.backtest.matching`), each match followed by its probability
   draw from ``numpy.random.default_rng(seed)``: no strategy left:
   ``not_sampled``;
4. budgets and the batch cap on the records' timestamps, in time order
   (:mod:`winnow.backtest.replay`): ``queued``, ``limited`` or ``batch_full``.

Not simulated (the log holds no pixels and no request extras): the
near-duplicate filter, a refused ``extra``, a full outbox, a full queue. The
result's ``notes`` say when one of these, or an approximation of the record
(see :mod:`winnow.backtest.records`), can matter for the window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from winnow.activelearning.batching import batch_name
from winnow.activelearning.config import ActiveLearningConfig
from winnow.backtest.matching import score_windows, strategy_mask
from winnow.backtest.records import (
    CLASSIFICATION,
    DETECTION_TASKS,
    MULTI_LABEL,
    US_PER_SECOND,
    BoolArray,
    Columns,
    IntArray,
    codes_of,
    columns,
)
from winnow.backtest.replay import BATCH_FULL, LIMITED, TAKEN, allowances, walk
from winnow.states import DatapointOutcome as Outcome

MAX_STRATEGIES: Final = 62  # sampled strategies are a bit set per record
CLASSIFICATION_PROJECTS: Final = (CLASSIFICATION, MULTI_LABEL)
_US_PER_HOUR: Final = 3600 * US_PER_SECOND
_DAY: Final = 86400

# Record outcome codes of the backtest, in the order figures list them.
_CODES: Final = (
    Outcome.DISABLED,
    Outcome.REFUSED,
    Outcome.NOT_SAMPLED,
    Outcome.LIMITED,
    Outcome.BATCH_FULL,
    Outcome.QUEUED,
)
_DISABLED, _REFUSED, _NOT_SAMPLED, _LIMITED, _BATCH_FULL, _QUEUED = range(len(_CODES))


def iso(moment: datetime) -> str:
    """``2026-12-01T10:00:00Z``: the UTC form every backtest time is given in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backtest(
    table: pa.Table,
    config: ActiveLearningConfig,
    *,
    since: datetime,
    until: datetime,
    seed: int = 0,
    project_type: str = "object-detection",
    workspace: str | None = None,
) -> dict[str, Any]:
    """Replay the records of ``table`` with ``since <= time < until`` through ``config``.

    ``table`` has the prediction record's columns (``records.RECORD_SCHEMA``;
    extra columns are ignored) of one project, in any order. The same
    arguments always give the same result. The result (JSON-ready) holds
    ``predictions``, ``collected``, ``outcomes``, ``strategies`` (per name:
    ``type``, ``matched`` (condition held and the draw won), ``collected``,
    ``limited``, ``batch_full``, ``expected`` (the sum of the probability over
    the records whose condition held)), ``limited_by``, ``per_hour`` (every UTC
    hour of the window), ``per_source``, ``batches``, then ``actual``: the same
    figures from the records' own decisions, with ``config_versions``.
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    cols = columns(_window(table, since, until))
    strategies = list(config.sampling_strategies)
    if len(strategies) > MAX_STRATEGIES:
        raise ValueError(f"a backtest replays at most {MAX_STRATEGIES} strategies")
    code = np.full(cols.n, _NOT_SAMPLED, dtype=np.int8)
    paid = np.full(cols.n, -1, dtype=np.int16)
    limited_by: dict[str, int] = {}
    matched = np.zeros((len(strategies), cols.n), dtype=bool)
    condition = np.zeros((len(strategies), cols.n), dtype=bool)
    first = np.full(cols.n, -1, dtype=np.int16)
    batches: dict[str, int] = {}
    enabled = config.enabled and config.batching_strategy is not None
    if not enabled:
        code[:] = _DISABLED
    else:
        refused = _refused(cols, config, project_type, workspace)
        code[refused] = _REFUSED
        eligible = ~refused
        rng = np.random.default_rng(seed)
        windows = score_windows()
        bits = np.zeros(cols.n, dtype=np.int64)
        for k, strategy in enumerate(strategies):
            condition[k] = strategy_mask(strategy, cols, windows) & eligible
            p = strategy.probability
            won = condition[k] if p >= 1 else condition[k] & (rng.random(cols.n) < p)
            matched[k] = won
            bits |= won.astype(np.int64) << k
        rows = np.flatnonzero(bits)
        for k in range(len(strategies) - 1, -1, -1):
            first[matched[k]] = k
        seconds = cols.time_us // US_PER_SECOND
        batching = config.batching_strategy
        assert batching is not None
        keys = _batch_keys(batching.recreation_interval, seconds[rows])
        result = walk(
            names=[s.name for s in strategies],
            budgets=[allowances(s.limits) for s in strategies],
            sampled=bits[rows],
            seconds=seconds[rows],
            sources=cols.source_codes[rows],
            batches=keys,
            cap=batching.max_batch_images,
        )
        code[rows] = np.select(
            [result.outcome == TAKEN, result.outcome == LIMITED, result.outcome == BATCH_FULL],
            [_QUEUED, _LIMITED, _BATCH_FULL],
        )
        paid[rows] = result.paid
        limited_by = dict(Counter(w for w in result.limited_by if w is not None))
        full = int(np.count_nonzero(result.outcome == BATCH_FULL))
        if full:
            limited_by["batch"] = full
        taken = rows[result.outcome == TAKEN]
        batches = _batch_names(
            batching.batches_name_prefix,
            batching.recreation_interval,
            seconds[taken],
        )
    queued = code == _QUEUED
    hours = _hours(since, until)
    figures: dict[str, Any] = {
        "since": iso(since),
        "until": iso(until),
        "seed": seed,
        "predictions": cols.n,
        "collected": int(np.count_nonzero(queued)),
        "outcomes": {
            _CODES[c].value: int(n)
            for c, n in enumerate(np.bincount(code, minlength=len(_CODES)))
            if n
        },
        "strategies": {
            s.name: {
                "type": s.type,
                "matched": int(np.count_nonzero(matched[k])),
                "collected": int(np.count_nonzero(paid == k)),
                "limited": int(np.count_nonzero((code == _LIMITED) & (first == k))),
                "batch_full": int(np.count_nonzero((code == _BATCH_FULL) & (first == k))),
                "expected": round(float(np.count_nonzero(condition[k])) * s.probability, 3),
            }
            for k, s in enumerate(strategies)
        },
        "limited_by": limited_by,
        "per_hour": _per_hour(hours, cols.time_us[queued]),
        "per_source": _per_source(cols, queued),
        "batches": batches,
        "actual": actual(cols, hours),
        "notes": _notes(cols, config),
    }
    return figures


def actual(cols: Columns, hours: Sequence[datetime]) -> dict[str, Any]:
    """The figures of the decisions the records carry (what the configuration in force did)."""
    table = cols.table
    codes, names = codes_of(table.column("outcome"))
    outcome_counts = np.bincount(codes[codes >= 0], minlength=len(names))

    def is_outcome(outcome: Outcome) -> BoolArray:
        if outcome.value not in names:
            return np.zeros(cols.n, dtype=bool)
        return np.asarray(codes == names.index(outcome.value), dtype=bool)

    queued = is_outcome(Outcome.QUEUED)
    matched_lists = table.column("matched").combine_chunks()
    if matched_lists.null_count:
        matched_lists = matched_lists.fill_null(pa.scalar([], type=matched_lists.type))
    raw = np.asarray(matched_lists.offsets.to_numpy(), dtype=np.int64)
    starts, lengths = raw[:-1] - raw[0], np.diff(raw)
    first_codes, first_names = codes_of(matched_lists.flatten())
    first = np.full(cols.n, -1, dtype=np.int64)
    some = lengths > 0
    first[some] = first_codes[starts[some]]
    strategies: dict[str, dict[str, int]] = {}

    def row(name: str) -> dict[str, int]:
        return strategies.setdefault(
            name, {"matched": 0, "collected": 0, "limited": 0, "batch_full": 0}
        )

    for code, n in enumerate(np.bincount(first_codes, minlength=len(first_names)).tolist()):
        if n:
            row(first_names[code])["matched"] = n
    for name, n in _value_counts(table.column("paid").filter(pa.array(queued))):
        row(name)["collected"] = n
    for key, outcome in (("limited", Outcome.LIMITED), ("batch_full", Outcome.BATCH_FULL)):
        which = first[is_outcome(outcome) & some]
        for code, n in enumerate(np.bincount(which, minlength=len(first_names)).tolist()):
            if n:
                row(first_names[code])[key] = n
    versions = table.column("config_version")
    return {
        "predictions": cols.n,
        "collected": int(np.count_nonzero(queued)),
        "outcomes": {
            name: int(n)
            for n, name in sorted(zip(outcome_counts.tolist(), names, strict=True), reverse=True)
            if n
        },
        "strategies": strategies,
        "limited_by": dict(_value_counts(table.column("limited_by"))),
        "per_hour": _per_hour(hours, cols.time_us[queued]),
        "per_source": _per_source(cols, queued),
        "config_versions": {
            ("none" if v is None else str(v)): n for v, n in _value_counts(versions, nulls=True)
        },
    }


def _value_counts(array: Any, *, nulls: bool = False) -> list[tuple[Any, int]]:
    """(value, count) of an Arrow array, nulls left out unless ``nulls``, most frequent first."""
    counts = pc.value_counts(array)
    if isinstance(counts, pa.ChunkedArray):  # pragma: no cover - value_counts combines
        counts = counts.combine_chunks()
    pairs = [
        (item["values"], int(item["counts"]))
        for item in counts.to_pylist()
        if nulls or item["values"] is not None
    ]
    return sorted(pairs, key=lambda p: -p[1])


def _window(table: pa.Table, since: datetime, until: datetime) -> pa.Table:
    """The records with ``since <= time < until``."""
    time = table.column("time")
    low = pa.scalar(since.astimezone(UTC), type=time.type)
    high = pa.scalar(until.astimezone(UTC), type=time.type)
    inside = pc.and_(pc.greater_equal(time, low), pc.less(time, high))
    if pc.all(inside).as_py() is not False:
        return table
    return table.filter(inside)


def _refused(
    cols: Columns, config: ActiveLearningConfig, project_type: str, workspace: str | None
) -> BoolArray:
    """Records the collector refuses before sampling: a foreign target, or a task mismatch."""
    target = config.target_workspace
    if target is not None and workspace is not None and target != workspace:
        return np.ones(cols.n, dtype=bool)
    classification = cols.task_in((CLASSIFICATION, MULTI_LABEL))
    if project_type in CLASSIFICATION_PROJECTS:
        return cols.task_in(DETECTION_TASKS)
    return classification


def _batch_keys(interval: str, seconds: IntArray) -> IntArray:
    """A key per record of the batch its time falls in (one key per batch name)."""
    days = seconds // _DAY
    if interval == "never":
        return np.zeros(len(seconds), dtype=np.int64)
    if interval == "daily":
        return days
    if interval == "weekly":  # 1970-01-01 was a Thursday (weekday 3, Monday 0)
        return days - (days + 3) % 7
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _batch_names(prefix: str, interval: str, seconds: IntArray) -> dict[str, int]:
    """Collected per batch name, as ``batching.batch_name`` names them."""
    out: dict[str, int] = {}
    keys, first, counts = np.unique(
        _batch_keys(interval, seconds), return_index=True, return_counts=True
    )
    for at, n in zip(first.tolist(), counts.tolist(), strict=True):
        moment = datetime.fromtimestamp(int(seconds[at]), UTC)
        out[batch_name(prefix, interval, moment)] = int(n)
    del keys
    return out


def _hours(since: datetime, until: datetime) -> list[datetime]:
    """Every UTC hour the window touches, from the one holding ``since``."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = until.astimezone(UTC)
    out = []
    while start < end:
        out.append(start)
        start += timedelta(hours=1)
    return out


def _per_hour(hours: Sequence[datetime], times_us: npt.NDArray[np.int64]) -> dict[str, int]:
    if not hours:
        return {}
    base = int(hours[0].timestamp()) * US_PER_SECOND
    counts = np.bincount((times_us - base) // _US_PER_HOUR, minlength=len(hours))
    return {iso(h): int(n) for h, n in zip(hours, counts.tolist(), strict=False)}


def _per_source(cols: Columns, mask: BoolArray) -> dict[str, int]:
    """Collected per source, every source of the window listed (0 included)."""
    codes = cols.source_codes
    counts = np.bincount(codes[mask & (codes >= 0)], minlength=len(cols.sources))
    return {name: int(n) for name, n in zip(cols.sources, counts.tolist(), strict=True)}


def _notes(cols: Columns, config: ActiveLearningConfig) -> list[str]:
    """What the replay could not see exactly, for this window and configuration."""
    notes = []
    if config.dedup is not None and config.dedup.enabled:
        notes.append(
            "near-duplicate filtering is not simulated (the log keeps no pixels): "
            "the backtest may collect frames it would have skipped"
        )
    capped = int(np.count_nonzero(cols.objects_total > np.diff(cols.offsets)))
    if capped:
        notes.append(
            f"{capped} records kept only their most confident objects: counts of selected "
            "classes and close confidences see those alone"
        )
    if cols.n and bool(np.any(cols.task_in((MULTI_LABEL,)))):
        notes.append(
            "multi-label predicted classes are read as the classes at or above the default "
            "confidence when the log does not flag them"
        )
    notes.append("budgets and batches start empty at the start of the window")
    return notes

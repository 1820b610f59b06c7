"""The active learning configuration: the document users write, validated.

Field names, types and the four reference strategy types are those of the reference
(see ``shared/seed/active-learning.txt``); a configuration the reference
accepts and gives a meaning to means the same here (any batch prefix,
repeated limit types, a limit of 0, ``target_project``). What the reference
silently ignores is accepted with a *warning* (``ActiveLearningConfig.warnings``):
unknown fields (with the nearest known name), and, when read from a reference
platform (``validate_config(data, reference=True)``), unknown strategy types.
Rejected: what the reference also fails on and values that cannot mean
anything; :func:`validate_config` reports *every* problem at once as
``"<field path>: <message>"``, e.g. ``sampling_strategies[1].epsilon: must be > 0``.

winnow's own extensions: the ``uncertainty`` strategy type, object
``conditions`` with ``min_objects`` / ``max_objects`` on every strategy
(:mod:`~winnow.activelearning.config.conditions`), and ``dedup``. A strategy
without ``conditions`` means exactly what the reference gives it.

Models are frozen pydantic models; lists are tuples. Build them with
:func:`~winnow.activelearning.config.validation.validate_config` (readable
errors) rather than ``model_validate`` (pydantic's errors), although both
enforce the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from winnow.activelearning.config.conditions import RULE_ERROR, ObjectCondition, condition_rules
from winnow.activelearning.limits.base import Window
from winnow.activelearning.objects import ObjectTest, compile_conditions
from winnow.activelearning.strategy_names import MAX_LENGTH, strategy_name_problem
from winnow.settings import TAG_CHARS

REFERENCE_STRATEGY_TYPES = (
    "random",
    "close_to_threshold",
    "classes_based",
    "detections_number_based",
)
STRATEGY_TYPES = (*REFERENCE_STRATEGY_TYPES, "uncertainty", "disagreement")
TAG_PATTERN = rf"^[{TAG_CHARS}]{{1,64}}$"
TAG_RULE = "must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @"
# Any string, as in the reference: batch names are stored as given and
# encoded wherever they end up in a URL, a page or a file name.
BATCH_PREFIX_MAX = 64
# Errors of this type come from cross-field rules; validate_config reports
# those from its own pass over the raw document (so they are never skipped
# because another field of the same object is invalid) and drops these.
_RULE_ERROR = RULE_ERROR
# top_fraction windows: how many recent scores a strategy ranks against.
WINDOW_DEFAULT = 1000
WINDOW_MIN, WINDOW_MAX = 10, 100_000

Probability = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Tag = Annotated[str, Field(strict=True, pattern=TAG_PATTERN)]
ClassName = Annotated[str, Field(strict=True, min_length=1)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]


def _strategy_name(value: str) -> str:
    # The platform checks the `strategy` of each datapoint with this same rule.
    problem = strategy_name_problem(value)
    if problem is not None:
        raise PydanticCustomError("strategy_name", problem)
    return value


StrategyName = Annotated[
    str, Field(strict=True, min_length=1, max_length=MAX_LENGTH), AfterValidator(_strategy_name)
]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]


def _crop_padding(value: float) -> float:
    # [0, 1): a fraction of the object's width / height; an integer >= 1: pixels.
    if value >= 1 and not float(value).is_integer():
        raise PydanticCustomError(
            "crop_padding", "must be a fraction in [0, 1) or a whole number of pixels"
        )
    return value


CropPadding = Annotated[
    float, Field(strict=True, ge=0, le=4096, allow_inf_nan=False), AfterValidator(_crop_padding)
]
# Unknown fields are ignored, as the reference does; validate_config warns about each.
_FROZEN = ConfigDict(extra="ignore", frozen=True)


class RecreationInterval(StrEnum):
    """How often a new labeling batch is started (batch names carry the date)."""

    NEVER = "never"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Limit(BaseModel):
    """At most ``value`` datapoints per UTC minute, hour or day for one strategy.

    ``per: "source"`` (winnow's own): every source (camera, stream, client)
    gets its own ``value``, inside the strategy's other limits.
    """

    model_config = _FROZEN
    type: Window
    value: NonNegativeInt  # 0: the strategy never collects (as in the reference)
    per: Literal["source"] | None = Field(
        default=None,
        description=(
            'winnow\'s own: "source" counts this limit per source of the image (each source'
            " has its own value, inside the strategy's other limits); absent: one count for"
            " the strategy."
        ),
    )


def _set(name: str, kind: str) -> dict[str, Any]:
    """JSON Schema: ``name`` is present and of JSON type ``kind`` (null counts as unset)."""
    return {"required": [name], "properties": {name: {"type": kind}}}


# JSON Schema of the rules every strategy shares: the count bounds need conditions.
_COUNT_RULES: list[dict[str, Any]] = [
    {"if": _set(name, "integer"), "then": _set("conditions", "array")}
    for name in ("min_objects", "max_objects")
]
_STRATEGY_SCHEMA: dict[str, Any] = {"allOf": _COUNT_RULES}


class _Strategy(BaseModel):
    """Fields every strategy has.

    ``conditions`` (winnow's own): when set, only objects passing them count,
    the strategy matches only when ``min_objects`` (default 1) to
    ``max_objects`` (default any) objects pass, and its own rule sees only the
    passing objects (:mod:`winnow.activelearning.samplers`).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_STRATEGY_SCHEMA)
    name: StrategyName
    tags: tuple[Tag, ...] = ()
    limits: tuple[Limit, ...] = ()
    conditions: Annotated[tuple[ObjectCondition, ...], Field(min_length=1)] | None = None
    min_objects: NonNegativeInt | None = None
    max_objects: NonNegativeInt | None = None
    # winnow extension: each matching object its own datapoint (activelearning/crops.py).
    collect: Literal["images", "crops"] = "images"
    crop_padding: CropPadding = 0

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        problems = _strategy_rules(self.model_dump(mode="json"))
        if problems:
            raise PydanticCustomError(_RULE_ERROR, _joined(problems))
        return self

    @cached_property
    def object_test(self) -> ObjectTest | None:
        """The conditions and count bounds compiled into one test (None: no conditions)."""
        if self.conditions is None:
            return None
        return compile_conditions(self.conditions, self.min_objects, self.max_objects)


class RandomStrategy(_Strategy):
    """Takes any prediction (stubs included) with probability ``traffic_percentage``."""

    type: Literal["random"]
    traffic_percentage: Probability

    @property
    def probability(self) -> float:
        """The chance a prediction is taken: ``traffic_percentage``."""
        return self.traffic_percentage


class _SelectsClasses(_Strategy):
    """A strategy with an optional class selection; ``selected`` is it as a frozenset."""

    selected_class_names: tuple[ClassName, ...] | None = None

    @cached_property
    def selected(self) -> frozenset[str] | None:
        """The selected class names as a set (None: every class counts); computed once."""
        names = self.selected_class_names
        return None if names is None else frozenset(names)


class CloseToThresholdStrategy(_SelectsClasses):
    """Takes predictions whose confidences lie within ``epsilon`` of ``threshold``."""

    type: Literal["close_to_threshold"]
    threshold: Probability
    epsilon: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]
    probability: Probability
    minimum_objects_close_to_threshold: PositiveInt = 1
    only_top_classes: Annotated[bool, Field(strict=True)] = True


class ClassesBasedStrategy(_SelectsClasses):
    """Takes classifications whose top (or any predicted) class is selected."""

    type: Literal["classes_based"]
    selected_class_names: Annotated[tuple[ClassName, ...], Field(min_length=1)]
    probability: Probability


class DetectionsNumberBasedStrategy(_SelectsClasses):
    """Takes detections whose count (of selected classes) is within the bounds."""

    type: Literal["detections_number_based"]
    probability: Probability
    more_than: Annotated[int, Field(strict=True, ge=0)] | None = None
    less_than: PositiveInt | None = None


Measure = Literal["least_confidence", "margin", "entropy", "mean_object_confidence"]
Aggregate = Literal["max", "mean", "sum"]

# JSON Schema of the uncertainty rules (validate_config checks the same ones).
_UNCERTAINTY_SCHEMA: dict[str, Any] = {
    "oneOf": [_set("threshold", "number"), _set("top_fraction", "number")],
    "allOf": [
        *_COUNT_RULES,
        {
            "if": {
                "not": {"required": ["aggregate"], "properties": {"aggregate": {"const": "sum"}}}
            },
            "then": {"properties": {"threshold": {"maximum": 1}}},
        },
        {
            "if": {
                "required": ["measure"],
                "properties": {"measure": {"const": "mean_object_confidence"}},
            },
            "then": {"properties": {"aggregate": {"enum": ["mean", None]}}},
        },
    ],
}


class UncertaintyStrategy(_Strategy):
    """Takes predictions the model is unsure about (a winnow type, not the reference's).

    Their uncertainty score (of measure and aggregate) is at least threshold, or in the
    top_fraction of the strategy's last window scores; exactly one of the two is set.
    Scores: winnow.activelearning.uncertainty; windows: winnow.activelearning.score_windows.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_UNCERTAINTY_SCHEMA)
    type: Literal["uncertainty"]
    measure: Measure
    aggregate: Aggregate | None = None
    threshold: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None
    top_fraction: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] | None = (
        None
    )
    window: Annotated[int, Field(strict=True, ge=WINDOW_MIN, le=WINDOW_MAX)] = WINDOW_DEFAULT
    probability: Probability = 1.0

    @cached_property
    def scoring(self) -> tuple[object, ...]:
        """What the scores depend on; a top_fraction window restarts when it changes."""
        return (
            self.measure,
            self.aggregate,
            self.window,
            self.conditions,
            self.min_objects,
            self.max_objects,
        )


class DisagreementStrategy(_SelectsClasses):
    """winnow extension: takes predictions the project's ``shadow`` model disagrees with
    (:func:`winnow.activelearning.disagreement.disagree`); never matches without a shadow run."""

    type: Literal["disagreement"]
    probability: Probability
    min_iou: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] = 0.5


Strategy = Annotated[
    RandomStrategy
    | CloseToThresholdStrategy
    | ClassesBasedStrategy
    | DetectionsNumberBasedStrategy
    | UncertaintyStrategy
    | DisagreementStrategy,
    Field(discriminator="type"),
]


_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/\d{1,9}$")


def _model_id(value: str) -> str:
    if not _MODEL_ID.match(value):
        raise PydanticCustomError("model_id", "must be a model id '<project>/<version>'")
    return value


class ShadowConfig(BaseModel):
    """winnow extension: a candidate model version run beside the served one on
    ``traffic_percentage`` of the requests, after the response (``server/shadow.py``)."""

    model_config = _FROZEN
    model_id: Annotated[str, Field(strict=True), AfterValidator(_model_id)]
    traffic_percentage: Probability


class BatchingStrategy(BaseModel):
    """How datapoints are grouped into labeling batches."""

    model_config = _FROZEN
    batches_name_prefix: Annotated[
        str, Field(strict=True, min_length=1, max_length=BATCH_PREFIX_MAX)
    ]
    recreation_interval: RecreationInterval
    max_batch_images: NonNegativeInt | None = None  # 0: nothing is ever collected


class DedupConfig(BaseModel):
    """Near-duplicate suppression (perceptual hash) for video streams."""

    model_config = _FROZEN
    enabled: Annotated[bool, Field(strict=True)] = True
    max_distance: Annotated[int, Field(strict=True, ge=0, le=64)] = 6
    window_seconds: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] = 60.0


_ENABLED_SCHEMA: dict[str, Any] = {
    "if": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]},
    "then": {
        "required": ["persist_predictions", "sampling_strategies", "batching_strategy"],
        "properties": {
            "persist_predictions": {"type": "boolean"},
            "sampling_strategies": {"type": "array", "minItems": 1},
            "batching_strategy": {"type": "object"},
        },
    },
}


class ActiveLearningConfig(BaseModel):
    """A project's active learning configuration. ``{"enabled": false}`` is the minimum."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        title="winnow active learning configuration",
        json_schema_extra=_ENABLED_SCHEMA,
    )
    enabled: Annotated[bool, Field(strict=True)]
    max_image_size: tuple[PositiveInt, PositiveInt] | None = None
    jpeg_compression_level: Annotated[int, Field(strict=True, ge=1, le=100)] = 95
    persist_predictions: Annotated[bool, Field(strict=True)] | None = None
    sampling_strategies: tuple[Strategy, ...] = ()
    batching_strategy: BatchingStrategy | None = None
    tags: tuple[Tag, ...] = ()
    dedup: DedupConfig | None = None
    shadow: ShadowConfig | None = None
    target_workspace: Annotated[str, Field(strict=True, min_length=1)] | None = None
    target_project: Annotated[str, Field(strict=True, min_length=1)] | None = None
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        problems = _config_rules(self.model_dump(mode="json", exclude_unset=True))
        if problems:
            raise PydanticCustomError(_RULE_ERROR, _joined(problems))
        return self

    @property
    def warnings(self) -> tuple[str, ...]:
        """What :func:`validate_config` accepted but wants the user to know, as
        ``"<field path>: <message>"`` (unknown fields, limits of 0, ignored strategies)."""
        return self._warnings

    def summary(self) -> str:
        """One line describing the configuration, for humans (CLI, logs)."""
        if not self.enabled:
            return "disabled"
        n = len(self.sampling_strategies)
        names = ", ".join(f"{s.name}: {s.type}" for s in self.sampling_strategies)
        parts = [f"enabled: {n} strateg{'y' if n == 1 else 'ies'} ({names})"]
        batching = self.batching_strategy
        if batching is not None:
            cap = (
                f", at most {batching.max_batch_images} images" if batching.max_batch_images else ""
            )
            parts.append(
                f"batches '{batching.batches_name_prefix}' {batching.recreation_interval}{cap}"
            )
        parts.append("persist predictions" if self.persist_predictions else "images only")
        if self.max_image_size is not None:
            parts.append(f"max size {self.max_image_size[0]}x{self.max_image_size[1]}")
        if self.tags:
            parts.append(f"tags {', '.join(self.tags)}")
        if self.shadow is not None:
            share = f"{100 * self.shadow.traffic_percentage:g}%"
            parts.append(f"shadow {self.shadow.model_id} on {share} of requests")
        if self.target_project or self.target_workspace:
            target = "/".join(t for t in (self.target_workspace, self.target_project) if t)
            parts.append(f"collects into {target}")
        return ", ".join(parts)


# --------------------------------------------------------------------------- cross-field rules
# Written over plain JSON-like data so they run on the raw document too.


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


Loc = tuple[int | str, ...]


def _strategy_rules(strategy: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """(location, message) for every cross-field problem of one strategy."""
    problems = _condition_rules(strategy)
    kind = strategy.get("type")
    if kind == "uncertainty":
        problems += _uncertainty_rules(strategy)
    if kind == "detections_number_based":
        low, high = strategy.get("more_than"), strategy.get("less_than")
        # Only when each bound is valid on its own (else that error says enough).
        if _is_int(low) and _is_int(high) and low >= 0 and high >= 1 and low + 1 >= high:
            problems.append(
                (
                    ("less_than",),
                    f"must be greater than more_than + 1 (no count is > {low} and < {high})",
                )
            )
    return problems


def _condition_rules(strategy: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    conditions = strategy.get("conditions")
    if isinstance(conditions, list | tuple):
        for i, condition in enumerate(conditions):
            if isinstance(condition, Mapping):
                problems += [(("conditions", i, *loc), m) for loc, m in condition_rules(condition)]
    low, high = strategy.get("min_objects"), strategy.get("max_objects")
    if conditions is None:
        for name in ("min_objects", "max_objects"):
            if strategy.get(name) is not None:
                problems.append(((name,), "only applies with conditions (none are set)"))
    elif _is_int(high) and high >= 0 and (low is None or (_is_int(low) and low >= 0)):
        least = 1 if low is None else low
        if high < least:
            given = "1 by default" if low is None else str(low)
            problems.append((("max_objects",), f"must be >= min_objects ({given})"))
    return problems


def _uncertainty_rules(strategy: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    threshold, fraction = strategy.get("threshold"), strategy.get("top_fraction")
    if threshold is None and fraction is None:
        problems.append(
            (("threshold",), "is required, or top_fraction (select by a fixed score or adaptively)")
        )
    elif threshold is not None and fraction is not None:
        problems.append((("top_fraction",), "give either threshold or top_fraction, not both"))
    measure, aggregate = strategy.get("measure"), strategy.get("aggregate")
    if measure == "mean_object_confidence" and aggregate not in (None, "mean"):
        problems.append(
            (("aggregate",), "must be mean (or unset) for measure mean_object_confidence")
        )
    if (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and threshold > 1
        and aggregate != "sum"
    ):
        problems.append((("threshold",), "must be <= 1 (only aggregate sum gives scores above 1)"))
    return problems


def _config_rules(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """(location, message) for every cross-field problem of a configuration document."""
    problems: list[tuple[Loc, str]] = []
    if data.get("enabled") is True:
        for name in ("persist_predictions", "sampling_strategies", "batching_strategy"):
            if data.get(name) is None:
                problems.append(((name,), "is required when enabled is true"))
        if data.get("sampling_strategies") in ([], ()):
            problems.append((("sampling_strategies",), "must not be empty when enabled is true"))
    strategies = data.get("sampling_strategies")
    if isinstance(strategies, list | tuple):
        names: dict[str, int] = {}
        for i, strategy in enumerate(strategies):
            if not isinstance(strategy, Mapping):
                continue
            label = strategy.get("name")
            if isinstance(label, str) and label:
                if label in names:
                    # The reference fails on duplicates too (its initialisation raises, so it
                    # collects nothing); they would also share one budget, keyed by name.
                    problems.append(
                        (
                            ("sampling_strategies", i, "name"),
                            f"duplicate strategy name '{label}' (as sampling_strategies"
                            f"[{names[label]}]): names must be unique, since limits are "
                            "counted per name; the reference refuses duplicates too",
                        )
                    )
                names.setdefault(label, i)
            problems.extend(
                (("sampling_strategies", i, *loc), message)
                for loc, message in _strategy_rules(strategy)
            )
            if strategy.get("type") == "disagreement" and not isinstance(
                data.get("shadow"), Mapping
            ):
                problems.append(
                    (
                        ("sampling_strategies", i, "type"),
                        "a disagreement strategy needs a shadow model (the top-level 'shadow')",
                    )
                )
    return problems


def _joined(problems: list[tuple[Loc, str]]) -> str:
    return "; ".join(f"{_path(loc)}: {message}" for loc, message in problems)


def _path(loc: Loc) -> str:
    """``sampling_strategies[1].epsilon`` for ``("sampling_strategies", 1, "epsilon")``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the configuration, as published in the docs."""
    schema = ActiveLearningConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema

"""The active learning configuration: the document users write, validated.

Field names, types and the four strategy types are those of the reference
(see ``shared/seed/active-learning.txt``); a configuration the reference
accepts and gives a meaning to means the same here (any batch prefix,
repeated limit types, a limit of 0, ``target_project``). What the reference
silently ignores is accepted with a *warning* (``ActiveLearningConfig.warnings``):
unknown fields (with the nearest known name), and, when read from a reference
platform (``validate_config(data, reference=True)``), unknown strategy types.
Rejected: what the reference also fails on and values that cannot mean
anything; :func:`validate_config` reports *every* problem at once as
``"<field path>: <message>"``, e.g. ``sampling_strategies[1].epsilon: must be > 0``.

Models are frozen pydantic models; lists are tuples. Build them with
:func:`validate_config` (readable errors) rather than ``model_validate``
(pydantic's errors), although both enforce the same rules.
"""

from __future__ import annotations

import difflib
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
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from winnow.activelearning.limits.base import Window
from winnow.activelearning.strategy_names import MAX_LENGTH, strategy_name_problem
from winnow.errors import InvalidConfigError
from winnow.settings import TAG_CHARS

STRATEGY_TYPES = ("random", "close_to_threshold", "classes_based", "detections_number_based")
TAG_PATTERN = rf"^[{TAG_CHARS}]{{1,64}}$"
TAG_RULE = "must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @"
# Any string, as in the reference: batch names are stored as given and
# encoded wherever they end up in a URL, a page or a file name.
BATCH_PREFIX_MAX = 64
# Errors of this type come from cross-field rules; validate_config reports
# those from its own pass over the raw document (so they are never skipped
# because another field of the same object is invalid) and drops these.
_RULE_ERROR = "winnow_rule"

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
# Unknown fields are ignored, as the reference does; validate_config warns about each.
_FROZEN = ConfigDict(extra="ignore", frozen=True)


class RecreationInterval(StrEnum):
    """How often a new labeling batch is started (batch names carry the date)."""

    NEVER = "never"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Limit(BaseModel):
    """At most ``value`` datapoints per UTC minute, hour or day for one strategy."""

    model_config = _FROZEN
    type: Window
    value: NonNegativeInt  # 0: the strategy never collects (as in the reference)


class _Strategy(BaseModel):
    """Fields every strategy has."""

    model_config = _FROZEN
    name: StrategyName
    tags: tuple[Tag, ...] = ()
    limits: tuple[Limit, ...] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        problems = _strategy_rules(self.model_dump(mode="json"))
        if problems:
            raise PydanticCustomError(_RULE_ERROR, _joined(problems))
        return self


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


Strategy = Annotated[
    RandomStrategy
    | CloseToThresholdStrategy
    | ClassesBasedStrategy
    | DetectionsNumberBasedStrategy,
    Field(discriminator="type"),
]


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
    problems: list[tuple[Loc, str]] = []
    if strategy.get("type") == "detections_number_based":
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
    return problems


def _joined(problems: list[tuple[Loc, str]]) -> str:
    return "; ".join(f"{_path(loc)}: {message}" for loc, message in problems)


# --------------------------------------------------------------------------- readable errors


def _path(loc: Loc) -> str:
    """``sampling_strategies[1].epsilon`` for ``("sampling_strategies", 1, "epsilon")``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _choices(expected: object) -> str:
    return ", ".join(re.findall(r"'([^']*)'", str(expected)))


def _message(error: Mapping[str, Any], path: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    fixed = {
        "missing": "is required",
        "extra_forbidden": "unknown field",
        "bool_type": "must be true or false",
        "int_type": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "dict_type": "must be an object",
        "union_tag_not_found": "must be an object with a 'type' (one of "
        + ", ".join(STRATEGY_TYPES)
        + ")",
    }
    if kind in fixed:
        return fixed[kind]
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        return f"must be {bounds[kind]} {_number(next(iter(ctx.values()), '?'))}"
    if kind in ("enum", "literal_error"):
        return f"must be one of {_choices(ctx.get('expected'))}"
    if kind == "union_tag_invalid":
        return f"unknown strategy type '{ctx.get('tag')}'; must be one of " + ", ".join(
            STRATEGY_TYPES
        )
    if kind == "string_pattern_mismatch":
        return TAG_RULE
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return "must not be empty"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    return str(error.get("msg", kind)).lower()


def _clean(loc: Loc) -> Loc:
    """Drop the tag a discriminated union puts in locations (strategies[0].random.x)."""
    if len(loc) >= 3 and loc[0] == "sampling_strategies" and loc[2] in STRATEGY_TYPES:
        return (*loc[:2], *loc[3:])
    return loc


def _document_order(data: object, loc: Loc) -> tuple[tuple[int, str], ...]:
    """Sort key putting a location where it appears in the document."""
    key: list[tuple[int, str]] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            key.append((part, ""))
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, Mapping):
            keys = list(node)
            # absent keys (missing fields) keep the order they were reported in
            key.append((keys.index(part) if part in node else len(keys), ""))
            node = node.get(part)
        else:
            key.append((0, part))
    return tuple(key)


def _errors(data: Mapping[str, Any], exc: ValidationError) -> list[str]:
    problems: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        if error["type"] == _RULE_ERROR:
            continue
        loc = _clean(tuple(error["loc"]))
        if error["type"] == "union_tag_invalid":
            loc += ("type",)
        if loc[:1] == ("max_image_size",) and error["type"] in ("missing", "too_short", "too_long"):
            problems.append((loc[:1], "must be [height, width]"))
            continue
        problems.append((loc, _message(error, _path(loc))))
    problems.extend(_config_rules(data))
    problems.sort(key=lambda problem: _document_order(data, problem[0]))
    # The same problem can surface twice; keep one.
    return list(dict.fromkeys(f"{_path(loc)}: {message}" for loc, message in problems))


def validate_config(data: object, *, reference: bool = False) -> ActiveLearningConfig:
    """Validate a configuration document (parsed JSON) and return the model.

    Raises :class:`winnow.errors.InvalidConfigError` listing every problem,
    each as ``"<field path>: <message>"`` (``<root>`` when ``data`` is not
    an object), in document order as far as possible. What is accepted but
    ignored or surprising is listed, in the same form, in the model's
    ``warnings``. ``reference=True`` (a document served by a reference
    platform) is exactly as tolerant as the reference: a strategy of an
    unknown type is dropped with a warning instead of rejected.
    """
    if not isinstance(data, Mapping):
        raise InvalidConfigError(["<root>: must be an object"])
    warnings: list[tuple[Loc, str]] = []
    document: Mapping[str, Any] = data
    if reference:
        document, warnings = _drop_unknown_strategies(data)
    try:
        model = ActiveLearningConfig.model_validate(document)
    except ValidationError as exc:
        errors = _errors(document, exc)
        # A typo often explains a missing field: name the unknown ones too.
        errors += [f"{_path(loc)}: {message}" for loc, message in _unknown_fields(data)]
        raise InvalidConfigError(errors or ["<root>: invalid configuration"]) from None
    warnings.extend(_unknown_fields(data))
    warnings.extend(_never_collects(model))
    warnings.sort(key=lambda warning: _document_order(data, warning[0]))
    model._warnings = tuple(dict.fromkeys(f"{_path(loc)}: {message}" for loc, message in warnings))
    return model


# --------------------------------------------------------------------------- warnings

_STRATEGY_MODELS: dict[str, type[BaseModel]] = {
    "random": RandomStrategy,
    "close_to_threshold": CloseToThresholdStrategy,
    "classes_based": ClassesBasedStrategy,
    "detections_number_based": DetectionsNumberBasedStrategy,
}


def _drop_unknown_strategies(
    data: Mapping[str, Any],
) -> tuple[dict[str, Any], list[tuple[Loc, str]]]:
    """The document without strategies of unknown types (as the reference skips them)."""
    document = dict(data)
    strategies = data.get("sampling_strategies")
    warnings: list[tuple[Loc, str]] = []
    if not isinstance(strategies, list):
        return document, warnings
    kept = []
    for i, strategy in enumerate(strategies):
        kind = strategy.get("type") if isinstance(strategy, Mapping) else None
        if isinstance(kind, str) and kind not in STRATEGY_TYPES:
            warnings.append(
                (
                    ("sampling_strategies", i, "type"),
                    f"unknown strategy type '{kind}', strategy ignored (as the reference does); "
                    f"known types: {', '.join(STRATEGY_TYPES)}",
                )
            )
            continue
        kept.append(strategy)
    document["sampling_strategies"] = kept
    if not kept and strategies and document.get("enabled") is True:
        # Nothing left to sample with: the reference collects nothing either.
        document["enabled"] = False
        warnings.append(
            (("sampling_strategies",), "no strategy of a known type: nothing is collected")
        )
    return document, warnings


def _unknown_keys(node: object, model: type[BaseModel], loc: Loc) -> list[tuple[Loc, str]]:
    if not isinstance(node, Mapping):
        return []
    known = list(model.model_fields)
    found = []
    for key in node:
        if key in known or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        found.append(((*loc, key), f"unknown field, ignored{hint}"))
    return found


def _unknown_fields(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Every field no model knows, with the nearest known name when one is close."""
    found = _unknown_keys(data, ActiveLearningConfig, ())
    found += _unknown_keys(data.get("batching_strategy"), BatchingStrategy, ("batching_strategy",))
    found += _unknown_keys(data.get("dedup"), DedupConfig, ("dedup",))
    strategies = data.get("sampling_strategies")
    for i, strategy in enumerate(strategies if isinstance(strategies, list) else []):
        if not isinstance(strategy, Mapping):
            continue
        kind = strategy.get("type")
        model = _STRATEGY_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            continue
        loc: Loc = ("sampling_strategies", i)
        found += _unknown_keys(strategy, model, loc)
        limits = strategy.get("limits")
        for j, limit in enumerate(limits if isinstance(limits, list) else []):
            found += _unknown_keys(limit, Limit, (*loc, "limits", j))
    return found


def _never_collects(model: ActiveLearningConfig) -> list[tuple[Loc, str]]:
    """Accepted zeros that switch collection off: worth saying."""
    found: list[tuple[Loc, str]] = []
    batching = model.batching_strategy
    if batching is not None and batching.max_batch_images == 0:
        found.append((("batching_strategy", "max_batch_images"), "0: no image is ever collected"))
    for i, strategy in enumerate(model.sampling_strategies):
        for j, limit in enumerate(strategy.limits):
            if limit.value == 0:
                found.append(
                    (
                        ("sampling_strategies", i, "limits", j, "value"),
                        f"0: strategy '{strategy.name}' never collects",
                    )
                )
    return found


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the configuration, as published in the docs."""
    schema = ActiveLearningConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema

"""Validating a configuration document: every problem at once, readable, plus warnings.

:func:`validate_config` turns pydantic's errors into ``"<field path>: <message>"``
lines in document order, adds the cross-field rules of
:mod:`~winnow.activelearning.config.models`, and lists what is accepted but
ignored or surprising (unknown fields with the nearest known name, limits of 0,
strategies of unknown types read from a reference platform) as the model's
``warnings``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from winnow.activelearning.config.conditions import (
    FILTER_FIELDS,
    MAX_REGION_POINTS,
    POINT_RULE,
    RANGE_FIELDS,
    RANGE_RULE,
)
from winnow.activelearning.config.models import (
    _RULE_ERROR,
    STRATEGY_TYPES,
    TAG_RULE,
    ActiveLearningConfig,
    BatchingStrategy,
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DedupConfig,
    DetectionsNumberBasedStrategy,
    DisagreementStrategy,
    Limit,
    Loc,
    RandomStrategy,
    ShadowConfig,
    UncertaintyStrategy,
    _config_rules,
    _path,
)
from winnow.errors import InvalidConfigError


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


def _at(data: object, loc: Loc) -> object:
    """The raw value at ``loc`` (None when absent)."""
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, Mapping):
            node = node.get(part)
        else:
            return None
    return node


def _long_enough(data: object, loc: Loc, error: Mapping[str, Any]) -> bool:
    """Whether the raw list at ``loc`` has the length a ``too_short`` error says it lacks."""
    value = _at(data, loc)
    least = (error.get("ctx") or {}).get("min_length")
    return isinstance(value, list) and isinstance(least, int) and len(value) >= least


def _condition_problem(
    data: object, loc: Loc, error: Mapping[str, Any]
) -> list[tuple[Loc, str]] | None:
    """Clearer (location, message) for shape errors inside ``conditions[i]`` (None: as is)."""
    if len(loc) < 4 or loc[2] != "conditions" or not isinstance(loc[3], int):
        return None
    kind, rest = error["type"], loc[4:]
    if kind == "extra_forbidden" and len(rest) == 1:
        name = str(rest[0])
        close = difflib.get_close_matches(name, FILTER_FIELDS, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(FILTER_FIELDS)
        return [(loc, f"unknown condition field ({hint})")]
    shape = ("missing", "too_short", "too_long")
    if rest[:1] and rest[0] in RANGE_FIELDS and kind in shape:
        return [(loc[:5], RANGE_RULE)]
    if rest[:1] == ("region",):
        if len(rest) == 1 and kind == "too_short":
            return [(loc, "must have at least 3 points")]
        if len(rest) == 1 and kind == "too_long":
            return [(loc, f"must have at most {MAX_REGION_POINTS} points")]
        if len(rest) >= 2 and (kind in shape or (len(rest) == 2 and kind == "tuple_type")):
            return [(loc[:6], POINT_RULE)]
    return None


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
        if error["type"] == "too_short" and _long_enough(data, loc, error):
            continue  # pydantic counted only the valid items: their own errors say enough
        clearer = _condition_problem(data, loc, error)
        if clearer is not None:
            problems.extend(clearer)
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
    warnings.extend(_unused_fields(model))
    warnings.sort(key=lambda warning: _document_order(data, warning[0]))
    model._warnings = tuple(dict.fromkeys(f"{_path(loc)}: {message}" for loc, message in warnings))
    return model


# --------------------------------------------------------------------------- warnings

_STRATEGY_MODELS: dict[str, type[BaseModel]] = {
    "random": RandomStrategy,
    "close_to_threshold": CloseToThresholdStrategy,
    "classes_based": ClassesBasedStrategy,
    "detections_number_based": DetectionsNumberBasedStrategy,
    "uncertainty": UncertaintyStrategy,
    "disagreement": DisagreementStrategy,
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
    found += _unknown_keys(data.get("shadow"), ShadowConfig, ("shadow",))
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


def _unused_fields(model: ActiveLearningConfig) -> list[tuple[Loc, str]]:
    """winnow fields that are set but do nothing in their place."""
    found: list[tuple[Loc, str]] = []
    for i, strategy in enumerate(model.sampling_strategies):
        if (
            isinstance(strategy, UncertaintyStrategy)
            and "window" in strategy.model_fields_set
            and strategy.top_fraction is None
        ):
            found.append(
                (("sampling_strategies", i, "window"), "only used with top_fraction, ignored")
            )
    return found

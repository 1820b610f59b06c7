"""Object conditions of a strategy (winnow's own): which objects of a prediction count.

A strategy's ``conditions`` is a list of :class:`ObjectCondition`; an object
*passes* when it passes every condition of the list, and a condition when it
passes every field the condition sets. Ranges are ``[low, high]``, both ends
inclusive, ``null`` for an open end (``[null, 32]``: at most 32). What each
field measures, per task type, is documented (and implemented) in
:mod:`winnow.activelearning.objects`.

Unlike the reference's fields, a condition's fields are strict: an unknown
field is an error, not a warning, since a misspelt bound would silently widen
what is collected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

FILTER_FIELDS = ("classes", "confidence", "area", "width", "height", "aspect", "region")
RANGE_FIELDS = ("confidence", "area", "width", "height", "aspect")
RANGE_RULE = "must be [low, high] (numbers, null for an open end)"
POINT_RULE = "must be [x, y] (relative coordinates, 0-1)"
# Polygons of more points than this are refused: the test runs on every object.
MAX_REGION_POINTS = 64

Fraction = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
FractionRange = tuple[Fraction | None, Fraction | None]
PixelRange = tuple[NonNegative | None, NonNegative | None]
Point = tuple[Fraction, Fraction]

Loc = tuple[int | str, ...]
# The error type of cross-field rules: validate_config reports those from its own
# pass over the raw document (so none is skipped because a sibling field is
# invalid) and drops the errors of this type.
RULE_ERROR = "winnow_rule"


class ObjectCondition(BaseModel):
    """One object filter; at least one field is set. ``None``: the field does not filter."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"minProperties": 1})
    classes: (
        Annotated[tuple[Annotated[str, Field(strict=True, min_length=1)], ...], Field(min_length=1)]
        | None
    ) = None
    confidence: FractionRange | None = None
    area: FractionRange | None = None
    width: PixelRange | None = None
    height: PixelRange | None = None
    aspect: PixelRange | None = None
    region: (
        Annotated[tuple[Point, ...], Field(min_length=3, max_length=MAX_REGION_POINTS)] | None
    ) = None

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        problems = condition_rules(self.model_dump(mode="json"))
        if problems:
            text = "; ".join(
                ".".join(map(str, loc)) + f": {m}" if loc else m for loc, m in problems
            )
            raise PydanticCustomError(RULE_ERROR, text)
        return self


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """The polygon's area by the shoelace formula (absolute value)."""
    total = 0.0
    for i, (x0, y0) in enumerate(points):
        x1, y1 = points[(i + 1) % len(points)]
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def condition_rules(condition: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """(location, message) of each cross-field problem of one raw condition object.

    Rules: at least one field set; ``low <= high`` in every range; a region
    encloses an area. Each runs only on values that are valid on their own.
    """
    problems: list[tuple[Loc, str]] = []
    if not any(condition.get(name) is not None for name in FILTER_FIELDS):
        problems.append(((), "must set at least one of " + ", ".join(FILTER_FIELDS)))
    for name in RANGE_FIELDS:
        bounds = condition.get(name)
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            continue
        low, high = bounds
        if low is None and high is None:
            problems.append(((name,), "must bound at least one end (both are null)"))
        elif _number(low) and _number(high) and low > high:
            problems.append(((name,), f"low must be <= high (got [{low}, {high}])"))
    region = condition.get("region")
    if (
        isinstance(region, list | tuple)
        and len(region) >= 3
        and all(
            isinstance(p, list | tuple) and len(p) == 2 and all(_number(v) for v in p)
            for p in region
        )
        and polygon_area(region) <= 0
    ):
        problems.append((("region",), "must enclose an area (the points are all on one line)"))
    return problems

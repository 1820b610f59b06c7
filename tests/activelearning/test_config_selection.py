"""winnow's selection fields in the configuration: uncertainty, conditions, object counts.

Accepted documents mean what they say; rejected ones name the field path; the
published JSON Schema agrees with the validator wherever it can express a rule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.activelearning.seed_configs import SEED_EXAMPLE
from winnow.activelearning.config import (
    ObjectCondition,
    RandomStrategy,
    UncertaintyStrategy,
    config_json_schema,
    validate_config,
)
from winnow.errors import InvalidConfigError

DOCS = Path(__file__).parents[2] / "docs" / "reference"
S0 = "sampling_strategies[0]"


def with_strategy(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(SEED_EXAMPLE)
    data["sampling_strategies"] = [fields]
    return data


def uncertainty(**fields: Any) -> dict[str, Any]:
    return with_strategy(name="u", type="uncertainty", **fields)


def conditioned(*conditions: Any, **fields: Any) -> dict[str, Any]:
    return with_strategy(
        name="r", type="random", traffic_percentage=1, conditions=list(conditions), **fields
    )


def errors_of(data: object) -> list[str]:
    with pytest.raises(InvalidConfigError) as caught:
        validate_config(data)
    return caught.value.errors


# --------------------------------------------------------------------------- accepted


def test_uncertainty_defaults() -> None:
    (strategy,) = validate_config(
        uncertainty(measure="entropy", top_fraction=0.05)
    ).sampling_strategies
    assert isinstance(strategy, UncertaintyStrategy)
    assert (strategy.aggregate, strategy.threshold, strategy.window) == (None, None, 1000)
    assert strategy.probability == 1.0
    assert strategy.conditions is None and strategy.object_test is None


def test_uncertainty_with_everything() -> None:
    data = uncertainty(
        measure="least_confidence",
        aggregate="sum",
        threshold=2.5,
        probability=0.5,
        limits=[{"type": "hourly", "value": 10}],
        tags=["unsure"],
        conditions=[{"classes": ["car"]}],
        min_objects=2,
        max_objects=9,
    )
    config = validate_config(data)
    (strategy,) = config.sampling_strategies
    assert isinstance(strategy, UncertaintyStrategy)
    assert (strategy.aggregate, strategy.threshold, strategy.probability) == ("sum", 2.5, 0.5)
    assert strategy.object_test is not None
    assert (strategy.object_test.min_objects, strategy.object_test.max_objects) == (2, 9)
    assert config.warnings == ()
    assert "u: uncertainty" in config.summary()


def test_conditions_are_frozen_models_with_open_ends() -> None:
    data = conditioned(
        {"classes": ["person"], "height": [None, 32], "confidence": [0, 0.6]},
        {"region": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], "aspect": [0.5, 2]},
    )
    (strategy,) = validate_config(data).sampling_strategies
    assert isinstance(strategy, RandomStrategy)
    assert strategy.conditions is not None
    first, second = strategy.conditions
    assert isinstance(first, ObjectCondition)
    assert (first.classes, first.height, first.width) == (("person",), (None, 32.0), None)
    assert second.region == ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))


def test_window_without_top_fraction_is_a_warning() -> None:
    config = validate_config(uncertainty(measure="margin", threshold=0.4, window=50))
    assert config.warnings == (f"{S0}.window: only used with top_fraction, ignored",)


def test_unknown_field_of_an_uncertainty_strategy_is_a_warning_with_a_hint() -> None:
    config = validate_config(uncertainty(measure="margin", threshold=0.4, treshold=0.3))
    assert config.warnings == (
        f"{S0}.treshold: unknown field, ignored (did you mean 'threshold'?)",
    )


def test_a_strategy_without_conditions_is_unchanged() -> None:
    """Reference strategies gain optional fields only: their documents validate to the same."""
    (strategy,) = validate_config(SEED_EXAMPLE).sampling_strategies
    assert (strategy.conditions, strategy.min_objects, strategy.max_objects) == (None, None, None)
    assert strategy.object_test is None


# --------------------------------------------------------------------------- rejected

CASES: list[tuple[str, object, list[str]]] = [
    (
        "uncertainty needs a measure and a rule",
        uncertainty(),
        [
            f"{S0}.measure: is required",
            f"{S0}.threshold: is required, or top_fraction (select by a fixed score or adaptively)",
        ],
    ),
    (
        "uncertainty with both rules",
        uncertainty(measure="entropy", threshold=0.5, top_fraction=0.1),
        [f"{S0}.top_fraction: give either threshold or top_fraction, not both"],
    ),
    (
        "uncertainty values out of range",
        uncertainty(
            measure="confusion",
            aggregate="median",
            top_fraction=1.5,
            window=5,
            probability=-1,
        ),
        [
            f"{S0}.measure: must be one of least_confidence, margin, entropy, "
            "mean_object_confidence",
            f"{S0}.aggregate: must be one of max, mean, sum",
            f"{S0}.top_fraction: must be <= 1",
            f"{S0}.window: must be >= 10",
            f"{S0}.probability: must be >= 0",
        ],
    ),
    (
        "uncertainty threshold of 0",
        uncertainty(measure="entropy", threshold=0),
        [f"{S0}.threshold: must be > 0"],
    ),
    (
        "uncertainty threshold above 1 without sum",
        uncertainty(measure="entropy", aggregate="mean", threshold=1.5),
        [f"{S0}.threshold: must be <= 1 (only aggregate sum gives scores above 1)"],
    ),
    (
        "mean object confidence is a mean",
        uncertainty(measure="mean_object_confidence", aggregate="max", threshold=0.5),
        [f"{S0}.aggregate: must be mean (or unset) for measure mean_object_confidence"],
    ),
    (
        "window too large, top fraction 0",
        uncertainty(measure="margin", top_fraction=0, window=1_000_000),
        [f"{S0}.top_fraction: must be > 0", f"{S0}.window: must be <= 100000"],
    ),
    ("empty conditions", conditioned(), [f"{S0}.conditions: must not be empty"]),
    (
        "conditions not a list",
        with_strategy(name="r", type="random", traffic_percentage=1, conditions={"classes": ["a"]}),
        [f"{S0}.conditions: must be a list"],
    ),
    (
        "a condition that filters nothing",
        conditioned({}),
        [
            f"{S0}.conditions[0]: must set at least one of classes, confidence, area, width, "
            "height, aspect, region"
        ],
    ),
    (
        "a misspelt condition field is an error",
        conditioned({"classes": ["a"], "heigth": [0, 32]}),
        [f"{S0}.conditions[0].heigth: unknown condition field (did you mean 'height'?)"],
    ),
    (
        "an unknown condition field",
        conditioned({"classes": ["a"], "colour": "red"}),
        [
            f"{S0}.conditions[0].colour: unknown condition field (known: classes, confidence, "
            "area, width, height, aspect, region)"
        ],
    ),
    (
        "range shapes",
        conditioned({"confidence": [0.5]}, {"area": [0, 0.5, 1]}, {"width": "small"}),
        [
            f"{S0}.conditions[0].confidence: must be [low, high] (numbers, null for an open end)",
            f"{S0}.conditions[1].area: must be [low, high] (numbers, null for an open end)",
            f"{S0}.conditions[2].width: must be a list",
        ],
    ),
    (
        "range values",
        conditioned({"confidence": [-0.1, 1.2], "area": [0, 2], "height": [-1, "9"]}),
        [
            f"{S0}.conditions[0].confidence[0]: must be >= 0",
            f"{S0}.conditions[0].confidence[1]: must be <= 1",
            f"{S0}.conditions[0].area[1]: must be <= 1",
            f"{S0}.conditions[0].height[0]: must be >= 0",
            f"{S0}.conditions[0].height[1]: must be a number",
        ],
    ),
    (
        "reversed range",
        conditioned({"width": [40, 8]}),
        [f"{S0}.conditions[0].width: low must be <= high (got [40, 8])"],
    ),
    (
        "range open at both ends",
        conditioned({"aspect": [None, None]}),
        [f"{S0}.conditions[0].aspect: must bound at least one end (both are null)"],
    ),
    (
        "classes empty or blank",
        conditioned({"classes": []}, {"classes": ["ok", ""]}),
        [
            f"{S0}.conditions[0].classes: must not be empty",
            f"{S0}.conditions[1].classes[1]: must not be empty",
        ],
    ),
    (
        "region with two points",
        conditioned({"region": [[0, 0], [1, 1]]}),
        [f"{S0}.conditions[0].region: must have at least 3 points"],
    ),
    (
        "region points",
        conditioned({"region": [[0, 0], [1.5, 0], [1], [0, 1, 2], 0.5]}),
        [
            f"{S0}.conditions[0].region[1][0]: must be <= 1",
            f"{S0}.conditions[0].region[2]: must be [x, y] (relative coordinates, 0-1)",
            f"{S0}.conditions[0].region[3]: must be [x, y] (relative coordinates, 0-1)",
            f"{S0}.conditions[0].region[4]: must be [x, y] (relative coordinates, 0-1)",
        ],
    ),
    (
        "region of too many points",
        conditioned({"region": [[i / 100, (i % 2) / 2] for i in range(65)]}),
        [f"{S0}.conditions[0].region: must have at most 64 points"],
    ),
    (
        "region on a line",
        conditioned({"region": [[0, 0], [0.5, 0.5], [1, 1]]}),
        [f"{S0}.conditions[0].region: must enclose an area (the points are all on one line)"],
    ),
    (
        "object counts without conditions",
        with_strategy(
            name="d", type="detections_number_based", probability=1, min_objects=1, max_objects=2
        ),
        [
            f"{S0}.min_objects: only applies with conditions (none are set)",
            f"{S0}.max_objects: only applies with conditions (none are set)",
        ],
    ),
    (
        "object counts reversed",
        conditioned({"classes": ["a"]}, min_objects=3, max_objects=2),
        [f"{S0}.max_objects: must be >= min_objects (3)"],
    ),
    (
        "max_objects below the default minimum",
        conditioned({"classes": ["a"]}, max_objects=0),
        [f"{S0}.max_objects: must be >= min_objects (1 by default)"],
    ),
    (
        "object counts out of range",
        conditioned({"classes": ["a"]}, min_objects=-1, max_objects=1.5),
        [f"{S0}.min_objects: must be >= 0", f"{S0}.max_objects: must be an integer"],
    ),
    (
        "conditions on a reference strategy are checked the same",
        with_strategy(
            name="c",
            type="close_to_threshold",
            threshold=0.5,
            epsilon=0.1,
            probability=1,
            conditions=[{"confidence": [0.9, 0.1]}],
        ),
        [f"{S0}.conditions[0].confidence: low must be <= high (got [0.9, 0.1])"],
    ),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejections_name_the_field(data: object, expected: list[str]) -> None:
    assert errors_of(data) == expected


# Rules the JSON Schema cannot express (the validator alone enforces them).
_SCHEMA_BLIND = (
    "low must be <= high",
    "must bound at least one end",
    "must enclose an area",
    "must be >= min_objects",
)


def test_published_schema_agrees_with_the_validator() -> None:
    schema = config_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for _name, bad, expected in CASES:
        if any(rule in " ".join(expected) for rule in _SCHEMA_BLIND):
            continue
        assert list(validator.iter_errors(bad)), f"schema accepts {bad!r}"
    for good in (
        uncertainty(measure="entropy", top_fraction=0.05),
        uncertainty(measure="entropy", threshold=0.5, top_fraction=None),
        uncertainty(measure="least_confidence", aggregate="sum", threshold=3),
        uncertainty(measure="mean_object_confidence", aggregate="mean", threshold=0.3),
        conditioned({"classes": ["a"], "width": [None, 32]}, min_objects=0, max_objects=None),
        with_strategy(name="r", type="random", traffic_percentage=1, min_objects=None),
    ):
        validate_config(good)
        assert list(validator.iter_errors(good)) == [], good


def test_reference_docs_example_of_selection_is_valid() -> None:
    """The selection example on docs/reference/config.md validates and has every new field."""
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    example = text.split("```json selection\n", 1)[1].split("```", 1)[0]
    config = validate_config(json.loads(example))
    assert config.warnings == ()
    kinds = {s.type for s in config.sampling_strategies}
    assert "uncertainty" in kinds
    assert any(s.conditions for s in config.sampling_strategies)

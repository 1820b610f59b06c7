"""The active learning configuration: what is accepted, and what each rejection says."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest

from tests.activelearning.seed_configs import SEED_EXAMPLE
from winnow.activelearning.config import (
    ActiveLearningConfig,
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DetectionsNumberBasedStrategy,
    RandomStrategy,
    RecreationInterval,
    config_json_schema,
    validate_config,
)
from winnow.errors import BadRequestError, InvalidConfigError

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "reference" / "al-config.schema.json"

FULL: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": False,
    "tags": ["site:a", "cam/1", "[x]<y>{z}@w.v-u_t"],
    "batching_strategy": {
        "batches_name_prefix": "night-shift_2",
        "recreation_interval": "weekly",
        "max_batch_images": 500,
    },
    "sampling_strategies": [
        {
            "name": "rand",
            "type": "random",
            "traffic_percentage": 0.5,
            "tags": ["r"],
            "limits": [{"type": "minutely", "value": 5}, {"type": "daily", "value": 100}],
        },
        {
            "name": "near",
            "type": "close_to_threshold",
            "threshold": 0.5,
            "epsilon": 0.1,
            "probability": 1,
            "selected_class_names": ["car", "truck"],
            "minimum_objects_close_to_threshold": 2,
            "only_top_classes": False,
        },
        {
            "name": "cats",
            "type": "classes_based",
            "selected_class_names": ["cat"],
            "probability": 0.25,
        },
        {
            "name": "crowd",
            "type": "detections_number_based",
            "probability": 0.0,
            "more_than": 3,
            "less_than": 5,
        },
    ],
    "dedup": {"enabled": True, "max_distance": 10, "window_seconds": 2.5},
}


def errors_of(data: object) -> list[str]:
    with pytest.raises(InvalidConfigError) as caught:
        validate_config(data)
    return caught.value.errors


def enabled_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SEED_EXAMPLE)
    data.update(changes)
    return data


def with_strategy(**fields: Any) -> dict[str, Any]:
    return enabled_with(sampling_strategies=[fields])


# --------------------------------------------------------------------------- accepted


def test_disabled_minimal_config_is_valid_with_defaults() -> None:
    config = validate_config({"enabled": False})
    assert config.enabled is False
    assert config.jpeg_compression_level == 95
    assert config.sampling_strategies == ()
    assert config.batching_strategy is None
    assert config.dedup is None
    assert config.summary() == "disabled"


def test_seed_example_is_valid_and_means_what_it_says() -> None:
    config = validate_config(SEED_EXAMPLE)
    assert config.max_image_size == (1200, 1200)
    assert config.jpeg_compression_level == 75
    assert config.persist_predictions is True
    (strategy,) = config.sampling_strategies
    assert isinstance(strategy, RandomStrategy)
    assert (strategy.name, strategy.type, strategy.probability) == (
        "default_strategy",
        "random",
        0.1,
    )
    assert strategy.tags == ()
    assert strategy.limits == ()
    assert config.batching_strategy is not None
    assert config.batching_strategy.recreation_interval is RecreationInterval.DAILY
    assert config.batching_strategy.max_batch_images is None


def test_full_config_exposes_every_field() -> None:
    config = validate_config(FULL)
    rand, near, cats, crowd = config.sampling_strategies
    assert isinstance(rand, RandomStrategy)
    assert [(limit.type, limit.value) for limit in rand.limits] == [("minutely", 5), ("daily", 100)]
    assert rand.tags == ("r",)
    assert isinstance(near, CloseToThresholdStrategy)
    assert near.selected == frozenset({"car", "truck"})
    assert near.minimum_objects_close_to_threshold == 2
    assert near.only_top_classes is False
    assert near.probability == 1.0
    assert isinstance(cats, ClassesBasedStrategy)
    assert cats.selected_class_names == ("cat",)
    assert isinstance(crowd, DetectionsNumberBasedStrategy)
    assert (crowd.more_than, crowd.less_than, crowd.selected) == (3, 5, None)
    assert config.tags == ("site:a", "cam/1", "[x]<y>{z}@w.v-u_t")
    assert config.dedup is not None
    assert (config.dedup.max_distance, config.dedup.window_seconds) == (10, 2.5)


def test_close_to_threshold_defaults() -> None:
    config = validate_config(
        with_strategy(name="n", type="close_to_threshold", threshold=0.3, epsilon=1, probability=0)
    )
    (strategy,) = config.sampling_strategies
    assert isinstance(strategy, CloseToThresholdStrategy)
    assert strategy.minimum_objects_close_to_threshold == 1
    assert strategy.only_top_classes is True
    assert strategy.selected is None


def test_limit_per_source_is_winnows_extension() -> None:
    config = validate_config(
        with_strategy(
            name="r",
            type="random",
            traffic_percentage=1,
            limits=[
                {"type": "hourly", "value": 10, "per": "source"},
                {"type": "daily", "value": 500},
                {"type": "minutely", "value": 3, "per": None},
            ],
        )
    )
    limits = config.sampling_strategies[0].limits
    assert [(limit.type, limit.value, limit.per) for limit in limits] == [
        ("hourly", 10, "source"),
        ("daily", 500, None),
        ("minutely", 3, None),
    ]
    assert config.warnings == ()


def test_dedup_defaults() -> None:
    dedup = validate_config({"enabled": False, "dedup": {}}).dedup
    assert dedup is not None
    assert (dedup.enabled, dedup.max_distance, dedup.window_seconds) == (True, 6, 60.0)


def test_disabled_config_may_carry_a_full_valid_setup() -> None:
    data = copy.deepcopy(FULL)
    data["enabled"] = False
    config = validate_config(data)
    assert len(config.sampling_strategies) == 4
    assert config.summary() == "disabled"


def test_models_are_frozen() -> None:
    config = validate_config(FULL)
    with pytest.raises(pydantic.ValidationError):
        config.enabled = False  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        config.sampling_strategies[0].name = "other"  # type: ignore[misc]


def test_summary_names_strategies_batching_and_persistence() -> None:
    assert validate_config(FULL).summary() == (
        "enabled: 4 strategies (rand: random, near: close_to_threshold, cats: classes_based, "
        "crowd: detections_number_based), batches 'night-shift_2' weekly, at most 500 images, "
        "images only, tags site:a, cam/1, [x]<y>{z}@w.v-u_t"
    )
    assert validate_config(SEED_EXAMPLE).summary() == (
        "enabled: 1 strategy (default_strategy: random), batches 'al_batch' daily, "
        "persist predictions, max size 1200x1200"
    )


# --------------------------------------------------------------------------- rejected: messages

CASES: list[tuple[str, object, list[str]]] = [
    ("not an object", [1, 2], ["<root>: must be an object"]),
    ("enabled missing", {}, ["enabled: is required"]),
    ("enabled not a bool", {"enabled": "yes"}, ["enabled: must be true or false"]),
    ("enabled as 1", {"enabled": 1}, ["enabled: must be true or false"]),
    (
        "enabled requires the rest",
        {"enabled": True},
        [
            "persist_predictions: is required when enabled is true",
            "sampling_strategies: is required when enabled is true",
            "batching_strategy: is required when enabled is true",
        ],
    ),
    (
        "null counts as missing",
        enabled_with(persist_predictions=None),
        ["persist_predictions: is required when enabled is true"],
    ),
    (
        "empty strategies when enabled",
        enabled_with(sampling_strategies=[]),
        ["sampling_strategies: must not be empty when enabled is true"],
    ),
    (
        "jpeg level out of range",
        enabled_with(jpeg_compression_level=0),
        ["jpeg_compression_level: must be >= 1"],
    ),
    (
        "jpeg level above 100",
        enabled_with(jpeg_compression_level=101),
        ["jpeg_compression_level: must be <= 100"],
    ),
    (
        "jpeg level not an integer",
        enabled_with(jpeg_compression_level=7.5),
        ["jpeg_compression_level: must be an integer"],
    ),
    (
        "image size with one number",
        enabled_with(max_image_size=[100]),
        ["max_image_size: must be [height, width]"],
    ),
    (
        "image size with three numbers",
        enabled_with(max_image_size=[1, 2, 3]),
        ["max_image_size: must be [height, width]"],
    ),
    (
        "image size not positive",
        enabled_with(max_image_size=[0, "9"]),
        ["max_image_size[0]: must be >= 1", "max_image_size[1]: must be an integer"],
    ),
    (
        "bad tags",
        enabled_with(tags=["", "a" * 65, "ok", "sp ace", 3]),
        [
            "tags[0]: must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @",
            "tags[1]: must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @",
            "tags[3]: must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @",
            "tags[4]: must be a string",
        ],
    ),
    (
        "bad batching strategy",
        enabled_with(
            batching_strategy={
                "batches_name_prefix": "x" * 65,
                "recreation_interval": "hourly",
                "max_batch_images": -1,
            }
        ),
        [
            "batching_strategy.batches_name_prefix: must be at most 64 characters",
            "batching_strategy.recreation_interval: must be one of never, daily, weekly, monthly",
            "batching_strategy.max_batch_images: must be >= 0",
        ],
    ),
    (
        "batching strategy missing its fields",
        enabled_with(batching_strategy={"extra": 1}),
        [
            "batching_strategy.batches_name_prefix: is required",
            "batching_strategy.recreation_interval: is required",
            "batching_strategy.extra: unknown field, ignored",
        ],
    ),
    (
        "batching strategy not an object",
        enabled_with(batching_strategy="daily"),
        ["batching_strategy: must be an object"],
    ),
    (
        "strategies not a list",
        enabled_with(sampling_strategies={"name": "x"}),
        ["sampling_strategies: must be a list"],
    ),
    (
        "unknown strategy type",
        with_strategy(name="x", type="embeddings_based"),
        [
            "sampling_strategies[0].type: unknown strategy type 'embeddings_based'; must be one of "
            "random, close_to_threshold, classes_based, detections_number_based, uncertainty, "
            "disagreement"
        ],
    ),
    (
        "strategy without type",
        with_strategy(name="x"),
        [
            "sampling_strategies[0]: must be an object with a 'type' (one of random, "
            "close_to_threshold, classes_based, detections_number_based, uncertainty, disagreement)"
        ],
    ),
    (
        "strategy not an object",
        enabled_with(sampling_strategies=[7]),
        ["sampling_strategies[0]: must be an object"],
    ),
    (
        "random without percentage",
        with_strategy(name="r", type="random"),
        ["sampling_strategies[0].traffic_percentage: is required"],
    ),
    (
        "random percentage out of range, name empty",
        with_strategy(name="", type="random", traffic_percentage=1.5, weight=2),
        [
            "sampling_strategies[0].name: must not be empty",
            "sampling_strategies[0].traffic_percentage: must be <= 1",
            "sampling_strategies[0].weight: unknown field, ignored",
        ],
    ),
    (
        "probability given as a string",
        with_strategy(name="r", type="random", traffic_percentage="0.5"),
        ["sampling_strategies[0].traffic_percentage: must be a number"],
    ),
    (
        "close to threshold ranges",
        with_strategy(
            name="c",
            type="close_to_threshold",
            threshold=-0.1,
            epsilon=0,
            probability=2,
            minimum_objects_close_to_threshold=0,
            only_top_classes="no",
            selected_class_names=["a", ""],
        ),
        [
            "sampling_strategies[0].threshold: must be >= 0",
            "sampling_strategies[0].epsilon: must be > 0",
            "sampling_strategies[0].probability: must be <= 1",
            "sampling_strategies[0].minimum_objects_close_to_threshold: must be >= 1",
            "sampling_strategies[0].only_top_classes: must be true or false",
            "sampling_strategies[0].selected_class_names[1]: must not be empty",
        ],
    ),
    (
        "epsilon above 1",
        with_strategy(
            name="c", type="close_to_threshold", threshold=0.5, epsilon=1.5, probability=1
        ),
        ["sampling_strategies[0].epsilon: must be <= 1"],
    ),
    (
        "close to threshold missing parameters",
        with_strategy(name="c", type="close_to_threshold"),
        [
            "sampling_strategies[0].threshold: is required",
            "sampling_strategies[0].epsilon: is required",
            "sampling_strategies[0].probability: is required",
        ],
    ),
    (
        "classes based needs a non-empty selection",
        with_strategy(name="k", type="classes_based", selected_class_names=[], probability=1),
        ["sampling_strategies[0].selected_class_names: must not be empty"],
    ),
    (
        "classes based without selection",
        with_strategy(name="k", type="classes_based", probability=1),
        ["sampling_strategies[0].selected_class_names: is required"],
    ),
    (
        "detection bounds with nothing between",
        with_strategy(
            name="d", type="detections_number_based", probability=1, more_than=3, less_than=4
        ),
        [
            "sampling_strategies[0].less_than: must be greater than more_than + 1 "
            "(no count is > 3 and < 4)"
        ],
    ),
    (
        "detection bounds reversed, and another field wrong too",
        with_strategy(
            name="d", type="detections_number_based", probability=7, more_than=9, less_than=2
        ),
        [
            "sampling_strategies[0].probability: must be <= 1",
            "sampling_strategies[0].less_than: must be greater than more_than + 1 "
            "(no count is > 9 and < 2)",
        ],
    ),
    (
        "detection bounds out of range",
        with_strategy(
            name="d", type="detections_number_based", probability=1, more_than=-1, less_than=0
        ),
        [
            "sampling_strategies[0].more_than: must be >= 0",
            "sampling_strategies[0].less_than: must be >= 1",
        ],
    ),
    (
        "bad limits",
        with_strategy(
            name="r",
            type="random",
            traffic_percentage=1,
            limits=[
                {"type": "hourly", "value": -1},
                {"type": "hourly", "value": 2.5},
                {"type": "weekly", "value": 1},
                {"type": "daily", "value": 1, "burst": 3},
                {"value": 1},
            ],
        ),
        [
            "sampling_strategies[0].limits[0].value: must be >= 0",
            "sampling_strategies[0].limits[1].value: must be an integer",
            "sampling_strategies[0].limits[2].type: must be one of minutely, hourly, daily",
            "sampling_strategies[0].limits[4].type: is required",
            "sampling_strategies[0].limits[3].burst: unknown field, ignored",
        ],
    ),
    (
        "per-source limits",
        with_strategy(
            name="r",
            type="random",
            traffic_percentage=1,
            limits=[
                {"type": "hourly", "value": 1, "per": "camera"},
                {"type": "hourly", "value": 1, "per": 1},
                {"type": "hourly", "value": 1, "per": "source", "pre": "source"},
            ],
        ),
        [
            "sampling_strategies[0].limits[0].per: must be one of source",
            "sampling_strategies[0].limits[1].per: must be one of source",
            "sampling_strategies[0].limits[2].pre: unknown field, ignored (did you mean 'per'?)",
        ],
    ),
    (
        "strategy tags",
        with_strategy(name="r", type="random", traffic_percentage=1, tags=["ok", "no way"]),
        [
            "sampling_strategies[0].tags[1]: must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @"
        ],
    ),
    (
        "bad dedup block",
        {
            "enabled": False,
            "dedup": {"enabled": 1, "max_distance": 65, "window_seconds": 0, "x": 1},
        },
        [
            "dedup.enabled: must be true or false",
            "dedup.max_distance: must be <= 64",
            "dedup.window_seconds: must be > 0",
            "dedup.x: unknown field, ignored",
        ],
    ),
    (
        "disabled config still checks what is present",
        {"enabled": False, "jpeg_compression_level": 0, "sampling_strategies": [{"type": "x"}]},
        [
            "jpeg_compression_level: must be >= 1",
            "sampling_strategies[0].type: unknown strategy type 'x'; must be one of random, "
            "close_to_threshold, classes_based, detections_number_based, uncertainty, disagreement",
        ],
    ),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejections_say_which_field_and_what_is_wrong(data: object, expected: list[str]) -> None:
    assert errors_of(data) == expected


DUPLICATE = (
    "duplicate strategy name '{name}' (as sampling_strategies[{first}]): names must be unique, "
    "since limits are counted per name; the reference refuses duplicates too"
)


def test_duplicate_strategy_names_are_reported_at_each_repeat() -> None:
    strategy = {"name": "same", "type": "random", "traffic_percentage": 0.1}
    data = enabled_with(
        sampling_strategies=[strategy, {**strategy}, {**strategy, "name": "b"}, strategy]
    )
    assert errors_of(data) == [
        f"sampling_strategies[1].name: {DUPLICATE.format(name='same', first=0)}",
        f"sampling_strategies[3].name: {DUPLICATE.format(name='same', first=0)}",
    ]


def test_every_problem_is_reported_at_once_in_document_order() -> None:
    data = {
        "enabled": True,
        "jpeg_compression_level": 500,
        "sampling_strategies": [
            {"name": "a", "type": "random", "traffic_percentage": -1},
            {
                "name": "a",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0,
                "probability": 1,
            },
        ],
        "batching_strategy": {"batches_name_prefix": "", "recreation_interval": "daily"},
        "bogus": True,
        "tags": [""],
    }
    assert errors_of(data) == [
        "jpeg_compression_level: must be <= 100",
        "sampling_strategies[0].traffic_percentage: must be >= 0",
        f"sampling_strategies[1].name: {DUPLICATE.format(name='a', first=0)}",
        "sampling_strategies[1].epsilon: must be > 0",
        "batching_strategy.batches_name_prefix: must not be empty",
        "tags[0]: must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @",
        "persist_predictions: is required when enabled is true",
        "bogus: unknown field, ignored",
    ]


def test_invalid_config_error_is_a_400_with_all_messages() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        validate_config({"enabled": True})
    error = caught.value
    assert isinstance(error, BadRequestError)
    assert error.status == 400
    body = error.to_json()
    assert body["errors"] == error.errors
    assert "persist_predictions: is required when enabled is true" in body["message"]


def test_model_validate_enforces_the_same_cross_field_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="duplicate strategy name 'a'"):
        ActiveLearningConfig.model_validate(
            {
                "enabled": False,
                "sampling_strategies": [
                    {"name": "a", "type": "random", "traffic_percentage": 1},
                    {"name": "a", "type": "random", "traffic_percentage": 1},
                ],
            }
        )
    with pytest.raises(pydantic.ValidationError, match="is required when enabled is true"):
        ActiveLearningConfig.model_validate({"enabled": True})
    with pytest.raises(pydantic.ValidationError, match="more_than"):
        DetectionsNumberBasedStrategy.model_validate(
            {
                "name": "d",
                "type": "detections_number_based",
                "probability": 1,
                "more_than": 2,
                "less_than": 3,
            }
        )


# --------------------------------------------------------------------------- JSON Schema


def test_published_schema_file_is_the_generated_one() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == config_json_schema(), (
        "docs/reference/al-config.schema.json is stale: regenerate it with "
        "`winnow al schema > docs/reference/al-config.schema.json`"
    )


def test_schema_is_valid_json_schema_and_agrees_with_the_validator() -> None:
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for good in (SEED_EXAMPLE, FULL, {"enabled": False}):
        assert list(validator.iter_errors(good)) == []
    for _name, bad, _expected in CASES:
        if "duplicate" in " ".join(_expected) or "more_than + 1" in " ".join(_expected):
            continue  # rules JSON Schema cannot express
        assert list(validator.iter_errors(bad)), f"schema accepts {bad!r}"


def test_example_in_the_reference_docs_is_valid() -> None:
    text = (SCHEMA_FILE.parent / "config.md").read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    config = validate_config(json.loads(example))
    assert [s.type for s in config.sampling_strategies] == [
        "close_to_threshold",
        "detections_number_based",
        "random",
    ]

"""Configurations a reference user already has: same meaning, a warning, or a named rejection.

Taken from the reference's documentation (the seed, shared/seed/active-learning.txt), its
unit tests' configurations, and issue 11. Each row says what winnow must do with it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.activelearning.seed_configs import SEED_EXAMPLE as SEED
from winnow.activelearning.config import ActiveLearningConfig, validate_config
from winnow.errors import InvalidConfigError
from winnow.platform.clients.config import ReferenceHTTPConfigSource

# The seed's set_active_learning_configuration() example.
SEED_SET: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "batching_strategy": {"batches_name_prefix": "my_batches", "recreation_interval": "daily"},
    "sampling_strategies": [
        {"name": "default_strategy", "type": "random", "traffic_percentage": 0.01}
    ],
}
# Shaped like the reference's own unit-test configurations: every strategy type with limits.
REFERENCE_TESTS: dict[str, Any] = {
    "enabled": True,
    "max_image_size": [1200, 1200],
    "jpeg_compression_level": 75,
    "persist_predictions": True,
    "sampling_strategies": [
        {
            "name": "default_strategy",
            "type": "random",
            "traffic_percentage": 0.1,
            "limits": [
                {"type": "minutely", "value": 10},
                {"type": "hourly", "value": 100},
                {"type": "daily", "value": 1000},
            ],
        },
        {
            "name": "underrepresented_classes",
            "type": "classes_based",
            "selected_class_names": ["cat"],
            "probability": 1.0,
            "tags": ["hard-classes"],
        },
        {
            "name": "hard_examples",
            "type": "close_to_threshold",
            "selected_class_names": ["a", "b"],
            "threshold": 0.25,
            "epsilon": 0.1,
            "probability": 0.5,
            "minimum_objects_close_to_threshold": 2,
        },
        {
            "name": "crowded",
            "type": "detections_number_based",
            "probability": 0.2,
            "more_than": 3,
            "less_than": 10,
            "selected_class_names": ["a"],
        },
    ],
    "batching_strategy": {
        "batches_name_prefix": "al_batch",
        "recreation_interval": "weekly",
        "max_batch_images": 1000,
    },
    "tags": ["my_tag"],
}


def changed(base: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    change(data)
    return data


def strategy0(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["sampling_strategies"][0].update(fields)


def batching(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["batching_strategy"].update(fields)


def check_seed(config: ActiveLearningConfig) -> None:
    assert config.enabled and config.persist_predictions
    assert config.max_image_size == (1200, 1200) and config.jpeg_compression_level == 75
    (only,) = config.sampling_strategies
    assert (only.name, only.type, only.probability) == ("default_strategy", "random", 0.1)
    assert config.batching_strategy is not None
    assert config.batching_strategy.batches_name_prefix == "al_batch"
    assert config.batching_strategy.recreation_interval == "daily"
    assert config.batching_strategy.max_batch_images is None


def check_reference_tests(config: ActiveLearningConfig) -> None:
    types = [s.type for s in config.sampling_strategies]
    assert types == ["random", "classes_based", "close_to_threshold", "detections_number_based"]
    assert [(limit.type, limit.value) for limit in config.sampling_strategies[0].limits] == [
        ("minutely", 10),
        ("hourly", 100),
        ("daily", 1000),
    ]
    assert config.batching_strategy is not None
    assert config.batching_strategy.max_batch_images == 1000
    assert config.tags == ("my_tag",)


def prefix_is(prefix: str) -> Callable[[ActiveLearningConfig], None]:
    def check(config: ActiveLearningConfig) -> None:
        assert config.batching_strategy is not None
        assert config.batching_strategy.batches_name_prefix == prefix

    return check


def limits_are(*limits: tuple[str, int]) -> Callable[[ActiveLearningConfig], None]:
    def check(config: ActiveLearningConfig) -> None:
        got = [(limit.type.value, limit.value) for limit in config.sampling_strategies[0].limits]
        assert got == list(limits)

    return check


def targets(workspace: str | None, project: str | None) -> Callable[[ActiveLearningConfig], None]:
    def check(config: ActiveLearningConfig) -> None:
        assert (config.target_workspace, config.target_project) == (workspace, project)

    return check


def nothing(_config: ActiveLearningConfig) -> None:
    """No field beyond the warnings to look at."""


ACCEPTED: list[tuple[str, dict[str, Any], Callable[[ActiveLearningConfig], None], list[str]]] = [
    ("seed example", SEED, check_seed, []),
    ("seed set_active_learning_configuration", SEED_SET, prefix_is("my_batches"), []),
    ("reference unit-test configuration", REFERENCE_TESTS, check_reference_tests, []),
    *(
        (
            f"prefix {prefix!r}",
            changed(SEED, batching(batches_name_prefix=prefix)),
            prefix_is(prefix),
            [],
        )
        for prefix in ("v1.2", "al.batch", "my batches", "a/b", "ü", "x" * 64)
    ),
    (
        "repeated limit types",
        changed(
            SEED, strategy0(limits=[{"type": "daily", "value": 10}, {"type": "daily", "value": 5}])
        ),
        limits_are(("daily", 10), ("daily", 5)),
        [],
    ),
    (
        "limit value 0",
        changed(SEED, strategy0(limits=[{"type": "hourly", "value": 0}])),
        limits_are(("hourly", 0)),
        ["sampling_strategies[0].limits[0].value: 0: strategy 'default_strategy' never collects"],
    ),
    (
        "max_batch_images 0",
        changed(SEED, batching(max_batch_images=0)),
        nothing,
        ["batching_strategy.max_batch_images: 0: no image is ever collected"],
    ),
    (
        "target_project",
        {**SEED, "target_project": "other-dataset"},
        targets(None, "other-dataset"),
        [],
    ),
    (
        "target_workspace and target_project",
        {**SEED, "target_workspace": "ws", "target_project": "other"},
        targets("ws", "other"),
        [],
    ),
    (
        "unknown top-level field",
        {**SEED, "colour": "blue"},
        check_seed,
        ["colour: unknown field, ignored"],
    ),
    (
        "misspelt optional field, with the nearest name",
        changed(SEED, strategy0(traffic_percentge=0.5)),
        check_seed,
        [
            "sampling_strategies[0].traffic_percentge: unknown field, ignored "
            "(did you mean 'traffic_percentage'?)"
        ],
    ),
    (
        "unknown fields at every level",
        changed(
            {**SEED, "max_image_sise": [1, 1]},
            lambda d: (
                d["batching_strategy"].update(max_batch_image=3),
                d["sampling_strategies"][0].update(limits=[{"type": "daily", "value": 1, "x": 1}]),
            ),
        ),
        nothing,
        [  # in document order: max_image_sise was added last
            "sampling_strategies[0].limits[0].x: unknown field, ignored",
            "batching_strategy.max_batch_image: unknown field, ignored "
            "(did you mean 'max_batch_images'?)",
            "max_image_sise: unknown field, ignored (did you mean 'max_image_size'?)",
        ],
    ),
    (
        "disabled",
        {"enabled": False},
        lambda c: None if not c.enabled else pytest.fail("enabled"),
        [],
    ),
]


@pytest.mark.parametrize(
    ("data", "check", "warnings"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_reference_configuration_means_the_same(
    data: dict[str, Any], check: Callable[[ActiveLearningConfig], None], warnings: list[str]
) -> None:
    config = validate_config(data)
    check(config)
    assert list(config.warnings) == warnings


REJECTED: list[tuple[str, object, list[str]]] = [
    (
        "missing required field (the reference fails too)",
        changed(SEED, lambda d: d["batching_strategy"].pop("batches_name_prefix")),
        ["batching_strategy.batches_name_prefix: is required"],
    ),
    (
        "misspelt required field: the hint comes with the error",
        changed(
            SEED,
            lambda d: d["sampling_strategies"][0].update(
                traffic_percentge=d["sampling_strategies"][0].pop("traffic_percentage")
            ),
        ),
        [
            "sampling_strategies[0].traffic_percentage: is required",
            "sampling_strategies[0].traffic_percentge: unknown field, ignored "
            "(did you mean 'traffic_percentage'?)",
        ],
    ),
    (
        "bad enum value",
        changed(SEED, batching(recreation_interval="hourly")),
        ["batching_strategy.recreation_interval: must be one of never, daily, weekly, monthly"],
    ),
    (
        "unknown limit type",
        changed(SEED, strategy0(limits=[{"type": "weekly", "value": 1}])),
        ["sampling_strategies[0].limits[0].type: must be one of minutely, hourly, daily"],
    ),
    (
        "wrong type",
        {**SEED, "persist_predictions": "yes"},
        ["persist_predictions: must be true or false"],
    ),
    (
        "probability of 1.5",
        changed(SEED, strategy0(traffic_percentage=1.5)),
        ["sampling_strategies[0].traffic_percentage: must be <= 1"],
    ),
    (
        "negative size",
        {**SEED, "max_image_size": [-1, 100]},
        ["max_image_size[0]: must be >= 1"],
    ),
    (
        "negative limit",
        changed(SEED, strategy0(limits=[{"type": "daily", "value": -1}])),
        ["sampling_strategies[0].limits[0].value: must be >= 0"],
    ),
    (
        "empty prefix",
        changed(SEED, batching(batches_name_prefix="")),
        ["batching_strategy.batches_name_prefix: must not be empty"],
    ),
    (
        "prefix of 65 characters",
        changed(SEED, batching(batches_name_prefix="x" * 65)),
        ["batching_strategy.batches_name_prefix: must be at most 64 characters"],
    ),
    (
        # The reference raises at initialisation ("Detected duplication of Active Learning
        # strategies names") and collects nothing; its limit keys are per name.
        "duplicate strategy names (the reference fails too)",
        changed(
            SEED,
            lambda d: d["sampling_strategies"].append(
                {**d["sampling_strategies"][0], "traffic_percentage": 0.5}
            ),
        ),
        [
            "sampling_strategies[1].name: duplicate strategy name 'default_strategy' (as "
            "sampling_strategies[0]): names must be unique, since limits are counted per name; "
            "the reference refuses duplicates too"
        ],
    ),
    (
        "unknown strategy type saved to winnow",
        changed(
            SEED,
            lambda d: d["sampling_strategies"].append({"name": "u", "type": "embeddings_based"}),
        ),
        [
            "sampling_strategies[1].type: unknown strategy type 'embeddings_based'; must be one of "
            "random, close_to_threshold, classes_based, detections_number_based, uncertainty, "
            "disagreement"
        ],
    ),
]


@pytest.mark.parametrize(
    ("data", "errors"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejection_names_the_field(data: object, errors: list[str]) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        validate_config(data)
    assert caught.value.errors == errors


# --------------------------------------------------------------------------- reference platform


def reference_platform(config: object) -> ReferenceHTTPConfigSource:
    """A ReferenceHTTPConfigSource talking to a fake reference platform serving ``config``."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/":
            return httpx.Response(200, json={"workspace": "ws"})
        if path == "/ws/proj":
            return httpx.Response(200, json={"project": {"type": "object-detection"}})
        if path == "/ws/proj/active_learning":
            return httpx.Response(200, content=json.dumps(config).encode())
        return httpx.Response(404, json={"message": "not found"})

    return ReferenceHTTPConfigSource("http://ref.test", transport=httpx.MockTransport(handler))


def test_unknown_strategy_type_from_a_reference_platform_is_skipped_with_a_warning() -> None:
    data = changed(
        REFERENCE_TESTS,
        lambda d: d["sampling_strategies"].insert(1, {"name": "new", "type": "embeddings_based"}),
    )
    source = reference_platform({**data, "future_field": 1})
    config = source.get("key", "proj").config
    assert config.enabled
    assert [s.name for s in config.sampling_strategies] == [
        "default_strategy",
        "underrepresented_classes",
        "hard_examples",
        "crowded",
    ]
    assert list(config.warnings) == [
        "sampling_strategies[1].type: unknown strategy type 'embeddings_based', strategy ignored "
        "(as the reference does); known types: random, close_to_threshold, classes_based, "
        "detections_number_based, uncertainty, disagreement",
        "future_field: unknown field, ignored",
    ]


def test_only_unknown_strategy_types_from_a_reference_platform_collect_nothing() -> None:
    data = changed(SEED, lambda d: d.update(sampling_strategies=[{"name": "n", "type": "x"}]))
    config = reference_platform(data).get("key", "proj").config
    assert not config.enabled
    assert config.warnings == (
        "sampling_strategies: no strategy of a known type: nothing is collected",
        "sampling_strategies[0].type: unknown strategy type 'x', strategy ignored (as the "
        "reference does); known types: random, close_to_threshold, classes_based, "
        "detections_number_based, uncertainty, disagreement",
    )


def test_reference_platform_still_rejects_what_the_reference_fails_on() -> None:
    source = reference_platform(changed(SEED, strategy0(traffic_percentage="lots")))
    with pytest.raises(InvalidConfigError, match=r"traffic_percentage: must be a number"):
        source.get("key", "proj")


def test_reference_platform_rejects_duplicate_strategy_names_as_the_reference_fails() -> None:
    data = changed(SEED, lambda d: d["sampling_strategies"].append(d["sampling_strategies"][0]))
    with pytest.raises(InvalidConfigError, match=r"the reference refuses duplicates too"):
        reference_platform(data).get("key", "proj")

"""winnow's configuration extensions of issue 14: ``shadow``, ``disagreement``, ``collect: crops``."""

from __future__ import annotations

from typing import Any

import pytest

from winnow.activelearning.config import DisagreementStrategy, validate_config
from winnow.errors import InvalidConfigError

BASE: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "daily"},
}
SHADOW = {"model_id": "cars/2", "traffic_percentage": 0.1}
RANDOM = {"name": "r", "type": "random", "traffic_percentage": 1.0}


def config(strategy: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {**BASE, "sampling_strategies": [strategy or RANDOM], **top}


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidConfigError) as caught:
        validate_config(data)
    return list(caught.value.errors)


def test_a_shadow_and_a_disagreement_strategy_with_crops() -> None:
    model = validate_config(
        config(
            {
                "name": "d",
                "type": "disagreement",
                "probability": 0.5,
                "min_iou": 0.3,
                "collect": "crops",
                "crop_padding": 12,
            },
            shadow=SHADOW,
        )
    )
    assert model.shadow is not None
    assert (model.shadow.model_id, model.shadow.traffic_percentage) == ("cars/2", 0.1)
    [strategy] = model.sampling_strategies
    assert isinstance(strategy, DisagreementStrategy)
    assert (strategy.min_iou, strategy.collect, strategy.crop_padding) == (0.3, "crops", 12)
    assert model.warnings == ()


def test_defaults_collect_whole_images_and_match_at_iou_one_half() -> None:
    model = validate_config(
        config({"name": "d", "type": "disagreement", "probability": 1.0}, shadow=SHADOW)
    )
    [strategy] = model.sampling_strategies
    assert isinstance(strategy, DisagreementStrategy)
    assert (strategy.min_iou, strategy.collect, strategy.crop_padding) == (0.5, "images", 0)
    assert validate_config(config()).shadow is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            config({"name": "d", "type": "disagreement", "probability": 1.0}),
            "sampling_strategies[0].type: a disagreement strategy needs a shadow model",
        ),
        (config(shadow={**SHADOW, "model_id": "cars"}), "shadow.model_id: must be a model id"),
        (
            config(shadow={**SHADOW, "traffic_percentage": 1.5}),
            "shadow.traffic_percentage: must be <= 1",
        ),
        (config(shadow={"model_id": "cars/2"}), "shadow.traffic_percentage: is required"),
        (
            config(
                {"name": "d", "type": "disagreement", "probability": 1.0, "min_iou": 0},
                shadow=SHADOW,
            ),
            "sampling_strategies[0].min_iou: must be > 0",
        ),
        (
            config({**RANDOM, "collect": "objects"}),
            "sampling_strategies[0].collect: must be one of images, crops",
        ),
        (
            config({**RANDOM, "crop_padding": 1.5}),
            "sampling_strategies[0].crop_padding: must be a fraction in [0, 1) or a whole number",
        ),
        (
            config({**RANDOM, "crop_padding": -1}),
            "sampling_strategies[0].crop_padding: must be >= 0",
        ),
    ],
)
def test_rejections_name_the_field(data: dict[str, Any], expected: str) -> None:
    found = errors(data)
    assert any(e.startswith(expected) for e in found), found


def test_an_unknown_field_of_the_shadow_is_a_warning() -> None:
    model = validate_config(config(shadow={**SHADOW, "modelid": 1}))
    assert model.warnings == ("shadow.modelid: unknown field, ignored (did you mean 'model_id'?)",)


def test_the_summary_names_the_shadow() -> None:
    summary = validate_config(config(shadow=SHADOW)).summary()
    assert "shadow cars/2 on 10% of requests" in summary

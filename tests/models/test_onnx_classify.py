"""Classification runner: preprocessing (RGB/255, short-side resize, centre crop), outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.models.graphs import channel_mean_model, constant_model
from winnow.errors import InvalidImageError
from winnow.models.base import InferenceParams
from winnow.models.onnx.model import load_onnx_model
from winnow.predictions import ClassificationPrediction

META = {"task": "classify", "names": "{0: 'red', 1: 'green', 2: 'blue'}", "imgsz": "[64, 64]"}


def solid(height: int, width: int, rgb: tuple[int, int, int]) -> npt.NDArray[Any]:
    image = np.zeros((height, width, 3), np.uint8)
    image[...] = rgb
    return image


def scores(prediction: object) -> dict[str, float]:
    assert isinstance(prediction, ClassificationPrediction)
    return {c.class_name: round(c.confidence, 3) for c in prediction.classes}


def test_input_is_rgb_scaled_to_unit_range() -> None:
    model = load_onnx_model("colors/1", channel_mean_model(64, metadata=META))
    assert model.task_type == "classification"
    assert (model.input_height, model.input_width) == (64, 64)
    [prediction] = model.infer([solid(100, 50, (255, 0, 51))], InferenceParams())
    assert isinstance(prediction, ClassificationPrediction)
    assert scores(prediction) == {"red": 1.0, "blue": 0.2, "green": 0.0}
    assert [c.class_name for c in prediction.classes] == ["red", "blue", "green"]
    assert prediction.top is not None and prediction.top.class_name == "red"
    assert prediction.predicted_classes == ["red"]
    assert not prediction.multi_label
    assert (prediction.image.width, prediction.image.height) == (50, 100)


def test_short_side_resize_then_centre_crop() -> None:
    # Three vertical stripes: the centre crop of a 3:1 image sees only the middle one.
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, :100] = (255, 0, 0)
    image[:, 100:200] = (0, 255, 0)
    image[:, 200:] = (0, 0, 255)
    model = load_onnx_model("colors/1", channel_mean_model(64, metadata=META))
    [prediction] = model.infer([image], InferenceParams())
    assert scores(prediction) == {"green": 1.0, "red": 0.0, "blue": 0.0}


def test_metadata_preprocessing_mean_std_and_bgr() -> None:
    meta = {**META, "mean": "[0.5, 0.5, 0.5]", "std": "[0.25, 0.5, 0.5]"}
    model = load_onnx_model("colors/2", channel_mean_model(64, metadata=meta))
    [prediction] = model.infer([solid(64, 64, (255, 0, 0))], InferenceParams())
    assert scores(prediction) == {"red": 2.0, "green": -1.0, "blue": -1.0}
    model = load_onnx_model(
        "colors/3", channel_mean_model(64), metadata={**META, "channel_order": "bgr"}
    )
    [prediction] = model.infer([solid(64, 64, (255, 0, 0))], InferenceParams())
    assert prediction.predicted_classes == ["blue"]  # type: ignore[union-attr]


def test_multi_label_predicts_every_class_over_the_confidence() -> None:
    model = load_onnx_model(
        "colors/4", channel_mean_model(64, metadata={**META, "multi_label": "true"})
    )
    [prediction] = model.infer([solid(64, 64, (255, 0, 204))], InferenceParams(confidence=0.5))
    assert isinstance(prediction, ClassificationPrediction)
    assert prediction.multi_label
    assert prediction.predicted_classes == ["red", "blue"]


def test_rank_two_output_without_metadata_is_a_classifier_with_batches() -> None:
    output = np.array([[0.1, 0.7, 0.2]], np.float32)
    model = load_onnx_model("cls/1", constant_model([output], input_shape=("batch", 3, 224, 224)))
    assert model.task_type == "classification"
    assert model.class_names == []
    predictions = model.infer([solid(10, 20, (0, 0, 0))] * 3, InferenceParams())
    assert len(predictions) == 3
    for prediction in predictions:
        assert scores(prediction) == {"1": 0.7, "2": 0.2, "0": 0.1}
        assert prediction.predicted_classes == ["1"]  # type: ignore[union-attr]


def test_registered_class_names_override_the_file() -> None:
    model = load_onnx_model(
        "colors/5", channel_mean_model(64, metadata=META), class_names=["r", "g", "b"]
    )
    [prediction] = model.infer([solid(8, 8, (0, 255, 0))], InferenceParams())
    assert prediction.predicted_classes == ["g"]  # type: ignore[union-attr]


@pytest.mark.parametrize("size", [(1, 1), (3, 1000)])
def test_tiny_and_thin_images_still_classify(size: tuple[int, int]) -> None:
    model = load_onnx_model("colors/1", channel_mean_model(64, metadata=META))
    [prediction] = model.infer([solid(*size, (0, 0, 255))], InferenceParams())
    assert prediction.predicted_classes == ["blue"]  # type: ignore[union-attr]


def test_grey_and_rgba_images_are_accepted_other_arrays_are_invalid() -> None:
    model = load_onnx_model("colors/1", channel_mean_model(64, metadata=META))
    grey = np.full((20, 30), 255, np.uint8)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[..., 3] = 7
    grey_prediction, rgba_prediction = model.infer([grey, rgba], InferenceParams())
    assert scores(grey_prediction) == {"red": 1.0, "green": 1.0, "blue": 1.0}
    assert rgba_prediction.predicted_classes == ["green"]  # type: ignore[union-attr]
    bads: list[npt.NDArray[Any]] = [np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)]
    for bad in bads:
        with pytest.raises(InvalidImageError, match="uint8 HxWx3"):
            model.infer([bad], InferenceParams())
    with pytest.raises(InvalidImageError, match="channels, got 2"):
        model.infer([np.zeros((4, 4, 2), np.uint8)], InferenceParams())

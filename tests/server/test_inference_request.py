"""Parsing v1 bodies and legacy queries into one InferenceRequest."""

from __future__ import annotations

import pytest

from winnow.errors import BadRequestError, UnauthorizedError
from winnow.server.inference_request import (
    ImageKind,
    legacy_body_image,
    parse_bool,
    parse_legacy_query,
    parse_v1,
)

IMG = {"type": "base64", "value": "aGVsbG8="}


def test_v1_single_image_with_params_and_unknown_fields() -> None:
    req = parse_v1(
        {
            "api_key": "k",
            "model_id": "cars/3",
            "image": IMG,
            "confidence": 0.25,
            "iou_threshold": 0.6,
            "max_detections": 7,
            "class_filter": ["car"],
            "class_agnostic_nms": True,
            "visualization_labels": True,
            "some_future_field": {"x": 1},
            "disable_active_learning": False,
            "active_learning_target_dataset": "other-project",
        },
        None,
    )
    assert req.api_key == "k"
    assert req.model_id == "cars/3"
    assert req.project == "cars"
    assert not req.as_list
    assert req.images[0].kind is ImageKind.BASE64
    assert req.params.confidence == 0.25
    assert req.params.iou_threshold == 0.6
    assert req.params.max_detections == 7
    assert req.params.class_filter == ["car"]
    assert req.params.class_agnostic_nms is True
    assert req.target_dataset == "other-project"
    assert req.disable_active_learning is False


def test_v1_list_of_images_and_url_type() -> None:
    req = parse_v1(
        {"api_key": "k", "model_id": "p/0", "image": [IMG, {"type": "url", "value": "http://x/y"}]},
        None,
    )
    assert req.as_list
    assert [i.kind for i in req.images] == [ImageKind.BASE64, ImageKind.URL]


def test_bearer_header_overrides_body_key() -> None:
    req = parse_v1({"api_key": "body", "model_id": "p/0", "image": IMG}, "Bearer header-key")
    assert req.api_key == "header-key"


def test_missing_key_is_401() -> None:
    with pytest.raises(UnauthorizedError):
        parse_v1({"model_id": "p/0", "image": IMG}, None)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"api_key": "k", "image": IMG}, "model_id is required"),
        ({"api_key": "k", "model_id": "noversion", "image": IMG}, "malformed"),
        ({"api_key": "k", "model_id": "p/0"}, "image is required"),
        ({"api_key": "k", "model_id": "p/0", "image": []}, "empty"),
        ({"api_key": "k", "model_id": "p/0", "image": {"type": "numpy", "value": "x"}}, "numpy"),
        ({"api_key": "k", "model_id": "p/0", "image": {"value": "x"}}, "type is required"),
        ({"api_key": "k", "model_id": "p/0", "image": {"type": "base64"}}, "value"),
        ({"api_key": "k", "model_id": "p/0", "image": IMG, "confidence": "high"}, "confidence"),
        ({"api_key": "k", "model_id": "p/0", "image": IMG, "confidence": 3}, "confidence"),
        ({"api_key": "k", "model_id": "p/0", "image": IMG, "max_detections": 0}, "max_detections"),
        (
            {"api_key": "k", "model_id": "p/0", "image": IMG, "disable_active_learning": "maybe"},
            "disable_active_learning",
        ),
        (
            {"api_key": "k", "model_id": "p/0", "image": IMG, "active_learning_target_dataset": 5},
            "active_learning_target_dataset",
        ),
        ([1, 2], "JSON object"),
    ],
)
def test_v1_bad_fields_name_the_field(body: object, fragment: str) -> None:
    with pytest.raises(BadRequestError, match=fragment):
        parse_v1(body, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("True", True), ("False", False), ("true", True), ("0", False), ("1", True), (None, False)],
)
def test_python_style_booleans(raw: str | None, expected: bool) -> None:
    assert parse_bool(raw, "x") is expected


def test_legacy_query_percentages_and_booleans() -> None:
    req = parse_legacy_query(
        "cars",
        "2",
        {
            "api_key": "k",
            "confidence": "40",
            "overlap": "30",
            "max_detections": "5",
            "format": "image",
            "disable_active_learning": "True",
            "classes": "car, truck",
        },
        None,
    )
    assert req.model_id == "cars/2"
    assert req.params.confidence == pytest.approx(0.4)
    assert req.params.iou_threshold == pytest.approx(0.3)
    assert req.params.max_detections == 5
    assert req.params.class_filter == ["car", "truck"]
    assert req.response_format == "image"
    assert req.disable_active_learning is True


def test_legacy_fractions_stay_fractions() -> None:
    req = parse_legacy_query("p", "0", {"api_key": "k", "confidence": "0.5"}, None)
    assert req.params.confidence == 0.5


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"api_key": "k", "confidence": "abc"}, "confidence must be a number"),
        ({"api_key": "k", "max_detections": "1.5"}, "max_detections must be an integer"),
        ({"api_key": "k", "format": "xml"}, "format"),
    ],
)
def test_legacy_bad_query_is_400(query: dict[str, str], fragment: str) -> None:
    with pytest.raises(BadRequestError, match=fragment):
        parse_legacy_query("p", "0", query, None)


def test_legacy_body_variants() -> None:
    assert legacy_body_image(b"aGVsbG8=\n").value == "aGVsbG8="
    assert legacy_body_image(b'"aGVsbG8="').value == "aGVsbG8="
    with pytest.raises(BadRequestError, match="empty"):
        legacy_body_image(b"  ")
    with pytest.raises(BadRequestError, match="not base64"):
        legacy_body_image(b"\xff\xd8\xff\xe0")

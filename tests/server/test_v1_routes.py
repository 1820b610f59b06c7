"""The v1 inference routes: response shapes per task, errors, and collection after the response."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import numpy as np
import pytest

from tests.apps import SpyCollector, inference_app, post_by_hand
from tests.factories import KEY, OTHER_KEY, make_jpeg_b64, v1_body
from tests.server.asgi_client import ASGIClient
from winnow.images import CapturedImage
from winnow.settings import Settings

ROUTES = {
    "object_detection": ("cars", "object-detection"),
    "instance_segmentation": ("shapes", "instance-segmentation"),
    "classification": ("pets", "classification"),
    "keypoints_detection": ("people", "keypoint-detection"),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_stub_answers_exactly_the_stub_shape(client: ASGIClient, route: str) -> None:
    project, task = ROUTES[route]
    response = client.post(f"/infer/{route}", json=v1_body(f"{project}/0"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {"time", "is_stub", "model_id", "task_type"}
    assert data["is_stub"] is True
    assert data["model_id"] == f"{project}/0"
    assert data["task_type"] == task
    assert isinstance(data["time"], float)


def test_detection_shape_and_coordinates_in_input_pixels(client: ASGIClient) -> None:
    # 128x64 image letterboxed into 64x64: scale 0.5, 16 px padding on top and bottom.
    # The model's box (8, 20)-(24, 36) maps back to (16, 8)-(48, 40).
    response = client.post("/infer/object_detection", json=v1_body("cars/1", confidence=0.5))
    assert response.status_code == 200, response.text
    data = response.json()
    uuid.UUID(data["inference_id"])
    assert data["image"] == {"width": 128, "height": 64}
    assert isinstance(data["time"], float)
    (pred,) = data["predictions"]
    assert set(pred) == {
        "x",
        "y",
        "width",
        "height",
        "confidence",
        "class",
        "class_id",
        "detection_id",
    }
    assert pred["class"] == "car"
    assert pred["class_id"] == 0
    assert pred["confidence"] == pytest.approx(0.9)
    assert (pred["x"], pred["y"]) == (pytest.approx(32), pytest.approx(24))
    assert (pred["width"], pred["height"]) == (pytest.approx(32), pytest.approx(32))


def test_classification_shape(client: ASGIClient) -> None:
    response = client.post("/infer/classification", json=v1_body("pets/1"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["top"] == "cat"
    assert data["confidence"] == pytest.approx(0.7)
    assert [p["class"] for p in data["predictions"]] == ["cat", "dog", "bird"]
    assert set(data["predictions"][0]) == {"class", "class_id", "confidence"}
    assert data["image"] == {"width": 128, "height": 64}


def test_keypoints_shape(client: ASGIClient) -> None:
    response = client.post("/infer/keypoints_detection", json=v1_body("people/1"))
    assert response.status_code == 200, response.text
    (pred,) = response.json()["predictions"]
    assert pred["class"] == "person"
    assert len(pred["keypoints"]) == 2
    assert set(pred["keypoints"][0]) == {"x", "y", "confidence", "class_id", "class"}


def test_segmentation_shape_has_a_polygon_inside_the_box(client: ASGIClient) -> None:
    # 128x64 letterboxed to 64x64 (scale 0.5, pad 16 top): the box (24, 24)-(40, 40)
    # in input pixels is (48, 16)-(80, 48) in the image.
    response = client.post("/infer/instance_segmentation", json=v1_body("shapes/1"))
    assert response.status_code == 200, response.text
    (pred,) = response.json()["predictions"]
    assert pred["class"] == "blob"
    assert (pred["x"], pred["y"]) == (pytest.approx(64), pytest.approx(32))
    assert (pred["width"], pred["height"]) == (pytest.approx(32), pytest.approx(32))
    points = pred["points"]
    assert len(points) >= 4
    assert all(47 <= p["x"] <= 81 and 15 <= p["y"] <= 49 for p in points)
    assert set(points[0]) == {"x", "y"}


def test_image_list_gives_an_array_with_one_id_each(client: ASGIClient) -> None:
    images = [{"type": "base64", "value": make_jpeg_b64(seed=i)} for i in range(3)]
    response = client.post(
        "/infer/object_detection", json={"api_key": KEY, "model_id": "cars/1", "image": images}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert isinstance(data, list)
    assert len(data) == 3
    assert len({d["inference_id"] for d in data}) == 3


def test_a_bad_image_in_a_list_is_named_by_its_index(client: ASGIClient) -> None:
    images = [{"type": "base64", "value": make_jpeg_b64()}, {"type": "base64", "value": "aGVsbG8="}]
    response = client.post(
        "/infer/object_detection", json={"api_key": KEY, "model_id": "cars/1", "image": images}
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("image[1]: not a decodable image")
    single = client.post(
        "/infer/object_detection", json={"api_key": KEY, "model_id": "cars/1", "image": images[1]}
    )
    assert single.json()["message"].startswith("not a decodable image")


def test_unknown_fields_are_ignored(client: ASGIClient) -> None:
    extra = {
        "fix_batch_size": True,
        "source": "x",
        "brand_new_option": [1, 2],
        "visualization_labels": False,
    }
    response = client.post("/infer/object_detection", json=v1_body("cars/0", **extra))
    assert response.status_code == 200, response.text


def test_visualization_is_a_jpeg(client: ASGIClient) -> None:
    response = client.post(
        "/infer/object_detection", json=v1_body("cars/1", visualize_predictions=True)
    )
    assert response.status_code == 200
    assert base64.b64decode(response.json()["visualization"])[:3] == b"\xff\xd8\xff"


def test_bearer_header_overrides_body_key(client: ASGIClient) -> None:
    payload = v1_body("cars/0")
    payload["api_key"] = "not-a-key"
    response = client.post(
        "/infer/object_detection", json=payload, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200, response.text


def _error(client: ASGIClient, path: str, status: int, **kwargs: Any) -> str:
    response = client.post(path, **kwargs)
    assert response.status_code == status, response.text
    message = response.json()["message"]
    assert isinstance(message, str)
    assert message
    return message


def test_wrong_task_route_is_400_naming_both(client: ASGIClient) -> None:
    message = _error(client, "/infer/object_detection", 400, json=v1_body("pets/1"))
    assert "classification" in message
    assert "object-detection" in message
    assert "pets/1" in message


def test_unknown_model_and_project_are_404_naming_them(client: ASGIClient) -> None:
    assert "cars/7" in _error(client, "/infer/object_detection", 404, json=v1_body("cars/7"))
    assert "nope" in _error(client, "/infer/object_detection", 404, json=v1_body("nope/0"))


def test_bad_and_missing_key_are_401(client: ASGIClient) -> None:
    payload = v1_body("cars/0")
    payload["api_key"] = "wrong"
    _error(client, "/infer/object_detection", 401, json=payload)
    del payload["api_key"]
    _error(client, "/infer/object_detection", 401, json=payload)


def test_other_workspace_key_cannot_use_models_of_this_one(client: ASGIClient) -> None:
    payload = v1_body("cars/1")
    payload["api_key"] = OTHER_KEY
    assert "cars/1" in _error(client, "/infer/object_detection", 404, json=payload)


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ({"type": "base64", "value": "@@not base64@@"}, "base64"),
        ({"type": "base64", "value": base64.b64encode(b"plain text, no image").decode()}, "image"),
        ({"type": "numpy", "value": "x"}, "numpy"),
        ({"type": "url", "value": "http://127.0.0.1:1/x.jpg"}, "loopback"),
        ({"type": "url", "value": "file:///etc/passwd"}, "scheme"),
    ],
)
def test_bad_images_are_400_with_a_reason(
    client: ASGIClient, image: dict[str, str], fragment: str
) -> None:
    payload = {"api_key": KEY, "model_id": "cars/0", "image": image}
    assert fragment in _error(client, "/infer/object_detection", 400, json=payload)


def test_empty_and_non_json_bodies_are_400(client: ASGIClient) -> None:
    assert "empty" in _error(client, "/infer/object_detection", 400, content=b"")
    assert "JSON" in _error(client, "/infer/object_detection", 400, content=b"{nope")


def test_collection_gets_the_decoded_image_and_the_prediction(
    client: ASGIClient, spy: SpyCollector
) -> None:
    response = client.post("/infer/object_detection", json=v1_body("cars/1"))
    assert response.status_code == 200
    (captured, prediction, context) = spy.calls[0]
    image = captured.pixels()
    assert image.shape == (64, 128, 3)
    assert image.dtype == np.uint8
    assert context.api_key == KEY
    assert context.project == "cars"
    assert context.model_id == "cars/1"
    assert context.source == "http"
    assert context.inference_id == response.json()["inference_id"]
    assert prediction.inference_id == context.inference_id  # type: ignore[union-attr]


def test_stub_predictions_are_collected_too(client: ASGIClient, spy: SpyCollector) -> None:
    client.post("/infer/keypoints_detection", json=v1_body("people/0"))
    assert len(spy.calls) == 1
    assert spy.calls[0][2].project == "people"


@pytest.mark.parametrize("flag", [True, "True", "true"])
def test_disable_active_learning_skips_collection(
    client: ASGIClient, spy: SpyCollector, flag: object
) -> None:
    response = client.post(
        "/infer/object_detection", json=v1_body("cars/0", disable_active_learning=flag)
    )
    assert response.status_code == 200
    assert spy.calls == []


def test_target_dataset_redirects_the_datapoint(client: ASGIClient, spy: SpyCollector) -> None:
    client.post(
        "/infer/object_detection", json=v1_body("cars/0", active_learning_target_dataset="pets")
    )
    assert spy.calls[0][2].project == "pets"
    assert spy.calls[0][2].model_id == "cars/0"


def test_active_learning_disabled_by_setting(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "d", api_key=KEY, active_learning_enabled=False)
    spy = SpyCollector()
    with ASGIClient(inference_app(settings, spy)) as test_client:
        assert (
            test_client.post("/infer/object_detection", json=v1_body("cars/0")).status_code == 200
        )
    assert spy.calls == []


def test_collector_failure_never_changes_the_response(settings: Settings) -> None:
    spy = SpyCollector(fail=True)
    app = inference_app(settings, spy)
    with ASGIClient(app) as test_client:
        response = test_client.post("/infer/object_detection", json=v1_body("cars/1"))
        assert response.status_code == 200
        assert response.json()["predictions"][0]["class"] == "car"
        metrics = test_client.get("/metrics").text
    assert len(spy.calls) == 1
    assert 'winnow_collection_errors_total{cause="RuntimeError"} 1.0' in metrics


def test_submit_happens_after_the_response_with_the_models_own_array(settings: Settings) -> None:
    """Drive the ASGI app by hand: the last body byte is sent before submit is called."""
    events: list[str] = []
    spy = SpyCollector(events=events)
    app = inference_app(settings, spy)
    registry = app.state.services.registry
    seen_by_model: list[object] = []
    real_get = registry.get

    def get(api_key: str, model_id: str) -> Any:
        model = real_get(api_key, model_id)
        real_infer = model.infer

        class Wrapped:
            task_type = model.task_type
            model_id = model.model_id

            def infer(self, images: list[Any], params: Any) -> Any:
                seen_by_model.extend(images)
                return real_infer(images, params)

        return Wrapped()

    registry.get = get
    payload = json.dumps(v1_body("cars/1")).encode()

    post_by_hand(app, "/infer/object_detection", [[payload]], events)
    assert events == ["status 200", "response sent", "submit"]
    # The collector gets the very image the model was given (no copy), and its full pixels.
    [image] = seen_by_model
    assert isinstance(image, CapturedImage) and spy.calls[0][0] is image
    assert image.pixels().shape == (64, 128, 3)

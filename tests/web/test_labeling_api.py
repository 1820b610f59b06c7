"""Saving labels, review, configuration and export through the web endpoints."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.factories import (
    KEY,
    add_image,
    log_records,
    make_boxes_json,
    make_records,
    new_project,
)
from tests.server.asgi_client import ASGIClient
from winnow.platform.schema import Annotation, Image
from winnow.platform.service import Platform


def _annotations(platform: Platform, image_id: int) -> list[Annotation]:
    with platform.db.read() as session:
        return list(
            session.scalars(
                select(Annotation).where(Annotation.image_id == image_id).order_by(Annotation.id)
            )
        )


def _status(platform: Platform, image_id: int) -> str:
    with platform.db.read() as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.status


def test_label_page_holds_the_prediction_and_neighbours(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    a = add_image(
        platform,
        "cars",
        seed=1,
        predictions=make_boxes_json([[100, 100, 50, 40]], class_name=["car"], confidence=[0.6]),
    )
    b = add_image(
        platform,
        "cars",
        seed=2,
        predictions=make_boxes_json([[10, 10, 4, 4]], class_name=["truck"], confidence=[0.6]),
    )
    page = client.get(f"/app/projects/cars/images/{a}")
    assert page.status_code == 200
    raw = re.search(
        r'<script type="application/json" id="label-data">(.*?)</script>', page.text, re.S
    )
    assert raw is not None
    data = json.loads(raw.group(1))
    assert data["objects"] == [{"cls": "car", "x1": 75.0, "y1": 80.0, "x2": 125.0, "y2": 120.0}]
    assert data["classes"][:1] == ["car"] and "truck" in data["classes"]
    assert data["next_url"] == f"/app/projects/cars/images/{b}"
    assert data["prev_url"] is None
    filtered = client.get(f"/app/projects/cars/images/{a}?status=labeled")
    found = re.search(r'id="label-data">(.*?)</script>', filtered.text, re.S)
    assert found is not None
    assert json.loads(found.group(1))["next_url"] is None


def test_saving_keeps_the_prediction_and_marks_labeled(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    image_id = add_image(
        platform,
        "cars",
        predictions=make_boxes_json([[100, 100, 50, 40]], class_name=["car"], confidence=[0.6]),
    )
    body = {"objects": [{"class": "truck", "x1": 10, "y1": 20, "x2": 110, "y2": 220}]}
    response = client.post(f"/app/images/{image_id}/annotation", json=body)
    assert response.status_code == 200, response.text
    rows = _annotations(platform, image_id)
    assert [r.kind for r in rows] == ["prediction", "human"]
    saved = json.loads(rows[1].body)
    assert saved["predictions"][0] | {"class_id": 0} == {
        "x": 60.0, "y": 120.0, "width": 100.0, "height": 200.0, "confidence": 1.0, "class": "truck", "class_id": 0,
    }  # fmt: skip
    assert _status(platform, image_id) == "labeled"
    page = client.get(f"/app/projects/cars/images/{image_id}")
    assert '"cls": "truck"' in page.text and "showing human" in page.text


def test_bad_label_payloads_are_400_naming_the_field(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    image_id = add_image(platform, "cars", predictions=[])
    for body, field in [
        ({"objects": [{"class": "", "x1": 0, "y1": 0, "x2": 1, "y2": 1}]}, "objects[0].class"),
        ({"objects": [{"class": "a", "x1": "0", "y1": 0, "x2": 1, "y2": 1}]}, "objects[0].x1"),
        ({"objects": "x"}, "objects"),
        ([1], "body"),
    ]:
        response = client.post(f"/app/images/{image_id}/annotation", json=body)
        assert response.status_code == 400
        assert field in response.json()["message"]
    garbage = client.post(
        f"/app/images/{image_id}/annotation",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert garbage.status_code == 400
    assert _status(platform, image_id) == "unlabeled"


def test_polygons_keypoints_and_classification_save(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "leaves", "instance-segmentation")
    seg = add_image(platform, "leaves", predictions=None)
    polygon = {
        "class": "leaf",
        "x1": 0,
        "y1": 0,
        "x2": 0,
        "y2": 0,
        "points": [[10, 10], [50, 10], [30, 40]],
    }
    assert (
        client.post(f"/app/images/{seg}/annotation", json={"objects": [polygon]}).status_code == 200
    )
    saved = json.loads(_annotations(platform, seg)[-1].body)["predictions"][0]
    assert saved["points"] == [{"x": 10, "y": 10}, {"x": 50, "y": 10}, {"x": 30, "y": 40}]
    # the box follows the polygon whatever box the client sent
    assert (saved["x"], saved["y"], saved["width"], saved["height"]) == (30, 25, 40, 30)
    two_points = dict(polygon, points=[[1, 1], [2, 2]])
    assert (
        client.post(f"/app/images/{seg}/annotation", json={"objects": [two_points]}).status_code
        == 400
    )

    new_project(platform, "pets", "multi-label-classification")
    pet = add_image(platform, "pets", seed=5, predictions=None)
    assert (
        client.post(f"/app/images/{pet}/annotation", json={"labels": ["cat", "dog"]}).status_code
        == 200
    )
    row = _annotations(platform, pet)[-1]
    assert (row.format, row.body) == ("txt", "cat\ndog")
    new_project(platform, "single", "classification")
    one = add_image(platform, "single", seed=6, predictions=None)
    response = client.post(f"/app/images/{one}/annotation", json={"labels": ["cat", "dog"]})
    assert response.status_code == 400 and "exactly one" in response.json()["message"]


def test_review_per_image_and_whole_batch(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    ids = [add_image(platform, "cars", seed=i, predictions=[]) for i in range(3)]
    for image_id in ids:
        client.post(f"/app/images/{image_id}/annotation", json={"objects": []})
    assert (
        client.post(f"/app/images/{ids[0]}/status", json={"status": "rejected"}).status_code == 200
    )
    assert client.post(f"/app/images/{ids[0]}/status", json={"status": "gone"}).status_code == 400
    response = client.post("/app/projects/cars/batches/batch-1/review", data={"action": "accept"})
    assert response.status_code == 303
    assert [_status(platform, i) for i in ids] == ["rejected", "reviewed", "reviewed"]
    client.post(f"/app/images/{ids[1]}/annotation", json={"objects": []})
    client.post("/app/projects/cars/batches/batch-1/review", data={"action": "send_back"})
    assert [_status(platform, i) for i in ids] == ["rejected", "unlabeled", "reviewed"]


def test_config_validation_save_history_diff_and_dry_run(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    add_image(
        platform,
        "cars",
        seed=1,
        predictions=make_boxes_json([[10, 10, 5, 5]], class_name=["car"], confidence=[0.5]),
    )
    add_image(
        platform,
        "cars",
        seed=2,
        predictions=make_boxes_json([[10, 10, 5, 5]], class_name=["car"], confidence=[0.95]),
    )
    add_image(platform, "cars", seed=3, predictions=None)
    bad = {
        "enabled": True,
        "sampling_strategies": [{"name": "r", "type": "random", "traffic_percentage": 2}],
    }
    result = client.post("/app/projects/cars/config/validate", json={"config": bad}).json()
    assert result["valid"] is False
    assert any(e.startswith("sampling_strategies[0].traffic_percentage") for e in result["errors"])
    assert client.post("/app/projects/cars/config", json={"config": bad}).status_code == 400
    good = {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
        "sampling_strategies": [
            {
                "name": "unsure",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0.1,
                "probability": 0.5,
            },
            {"name": "all", "type": "random", "traffic_percentage": 0.1},
        ],
    }
    assert (
        client.post("/app/projects/cars/config/validate", json={"config": good}).json()["valid"]
        is True
    )
    assert (
        client.post("/app/projects/cars/config", json={"config": {"enabled": False}}).json()[
            "version"
        ]
        == 1
    )
    assert client.post("/app/projects/cars/config", json={"config": good}).json()["version"] == 2
    page = client.get("/app/projects/cars/config?diff=2")
    assert "diff with v1" in page.text
    assert '<span class="add">+  &#34;sampling_strategies&#34;: [</span>' in page.text
    assert '<span class="del">-  &#34;enabled&#34;: false</span>' in page.text
    # the dry run is a backtest of the logged predictions: the text and the saved version
    now = datetime.now(UTC)
    log_records(
        platform,
        make_records(200, seed=1, start=now - timedelta(minutes=40), seconds=600, project="cars"),
    )
    draft = {
        **good,
        "sampling_strategies": [
            {
                "name": "every",
                "type": "random",
                "traffic_percentage": 1.0,
                "limits": [{"type": "minutely", "value": 1}],
            }
        ],
    }
    run = client.post(
        "/app/projects/cars/config/dry-run", json={"config": draft, "window": "1h"}
    ).json()
    assert run["window"] == "1h" and run["saved_version"] == 2
    assert run["draft"]["predictions"] == run["saved"]["predictions"] == 200
    assert 0 < run["draft"]["collected"] <= 11  # one a minute over ten minutes
    assert run["draft"]["strategies"]["every"]["limited"] > 0
    assert set(run["saved"]["strategies"]) == {"unsure", "all"}
    assert run["draft"]["actual"]["collected"] == 0
    refused = client.post(
        "/app/projects/cars/config/dry-run", json={"config": good, "window": "2h"}
    )
    assert refused.status_code == 400 and "window:" in refused.json()["message"]
    invalid = client.post("/app/projects/cars/config/dry-run", json={"config": bad})
    assert invalid.status_code == 400 and invalid.json()["errors"]


def test_export_from_the_ui_and_the_api_match(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    ids = [
        add_image(
            platform,
            "cars",
            seed=i,
            predictions=make_boxes_json([[50, 50, 20, 20]], class_name=["car"], confidence=[0.6]),
        )
        for i in range(4)
    ]
    client.post(
        f"/app/images/{ids[0]}/annotation",
        json={"objects": [{"class": "bus", "x1": 1, "y1": 2, "x2": 30, "y2": 40}]},
    )
    client.post(f"/app/images/{ids[1]}/annotation", json={"objects": []})
    ui = client.get("/app/projects/cars/export.zip?format=coco&split=1,0,0")
    api = client.get(
        "/v1/projects/cars/export?format=coco&split=1,0,0",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert ui.status_code == api.status_code == 200
    assert ui.headers["content-type"] == "application/zip"
    for response in (ui, api):
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            doc = json.loads(archive.read("train/_annotations.coco.json"))
            assert sorted(archive.namelist()) == sorted(
                ["train/_annotations.coco.json", f"train/{ids[0]}.jpg", f"train/{ids[1]}.jpg"]
            )
            assert archive.read(f"train/{ids[0]}.jpg")[:2] == b"\xff\xd8"
        assert [a["bbox"] for a in doc["annotations"]] == [[1, 2, 29, 38]]
        assert [c["name"] for c in doc["categories"]] == ["bus"]
    assert client.get("/v1/projects/cars/export").status_code == 401
    for query, field in [
        ("format=png", "format"),
        ("status=done", "status"),
        ("split=1,2", "split"),
        ("batch=nope", "batch"),
    ]:
        response = client.get(
            f"/v1/projects/cars/export?{query}", headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 400 and field in response.json()["message"]


def test_keypoints_save_with_visibility(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "people", "keypoint-detection")
    image_id = add_image(platform, "people", predictions=None)
    person = {
        "class": "person", "x1": 10, "y1": 10, "x2": 110, "y2": 210,
        "keypoints": [{"id": 0, "name": "nose", "x": 60, "y": 30, "v": 2}, {"id": 1, "name": "tail", "x": 0, "y": 0, "v": 0}],
    }  # fmt: skip
    assert (
        client.post(f"/app/images/{image_id}/annotation", json={"objects": [person]}).status_code
        == 200
    )
    saved = json.loads(_annotations(platform, image_id)[-1].body)["predictions"][0]
    assert saved["keypoints"] == [
        {"x": 60, "y": 30, "confidence": 1.0, "class_id": 0, "class": "nose"},
        {"x": 0, "y": 0, "confidence": 0.0, "class_id": 1, "class": "tail"},
    ]
    page = client.get(f"/app/projects/people/images/{image_id}")
    data = json.loads(re.search(r'id="label-data">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
    assert data["keypoint_names"] == ["nose", "tail"]
    assert data["objects"][0]["keypoints"][1]["v"] == 0
    bad = dict(person, keypoints=[{"id": -1, "x": 1, "y": 1}])
    response = client.post(f"/app/images/{image_id}/annotation", json={"objects": [bad]})
    assert response.status_code == 400 and "keypoints[0].id" in response.json()["message"]


def test_class_names_cannot_inject_markup(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    evil = "</script><img src=x onerror=alert(1)>"
    image_id = add_image(
        platform,
        "cars",
        predictions=make_boxes_json([[50, 50, 10, 10]], class_name=[evil], confidence=[0.6]),
    )
    page = client.get(f"/app/projects/cars/images/{image_id}").text
    assert "<img src=x" not in page
    data = json.loads(re.search(r'id="label-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert data["objects"][0]["cls"] == evil
    grid = client.get("/app/projects/cars/batches/batch-1").text
    assert "<img src=x" not in grid


def test_config_editor_shows_warnings_on_validate_and_save(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    config = {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {
            "batches_name_prefix": "my batches",
            "recreation_interval": "daily",
            "max_batch_images": 0,
        },
        "sampling_strategies": [{"name": "all", "type": "random", "traffic_percentage": 0.1}],
    }
    expected = ["batching_strategy.max_batch_images: 0: no image is ever collected"]
    checked = client.post("/app/projects/cars/config/validate", json={"config": config}).json()
    assert checked["valid"] is True and checked["warnings"] == expected
    saved = client.post("/app/projects/cars/config", json={"config": config}).json()
    assert saved["version"] == 1 and saved["warnings"] == expected
    page = client.get("/app/projects/cars/config")
    assert 'id="config-warnings"' in page.text

"""The reference platform API, driven exactly as a reference inference server calls it."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from tests.factories import AL_CONFIG, KEY, capped_config, make_detections_json, make_jpeg
from tests.server.asgi_client import ASGIClient
from winnow.platform.routes.reference import fit_to_stored_image


def url(path: str, *params: tuple[str, str]) -> str:
    """``path?k=v&...`` with quote_plus encoding, the way the reference client builds URLs."""
    query = "&".join(f"{k}={quote_plus(v)}" for k, v in (("api_key", KEY), *params))
    return f"{path}?{query}"


def create_project(client: ASGIClient, name: str = "cars", type: str = "object-detection") -> None:
    response = client.post(url("/v1/projects"), json={"name": name, "type": type})
    assert response.status_code == 201, response.text


def upload(
    client: ASGIClient, image: bytes, *params: tuple[str, str], project: str = "cars"
) -> dict[str, object]:
    response = client.post(
        url(f"/dataset/{project}/upload", *params),
        data={"name": "3f1b2c4d-uuid.jpg"},
        files={"file": ("imageToUpload", image, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_browser_opening_the_root_is_sent_to_the_web_ui(client: ASGIClient) -> None:
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 307
    assert response.headers["location"] == "/app/"
    # a client asking for JSON still gets the reference's 401
    assert client.get("/", headers={"Accept": "application/json"}).status_code == 401


def test_workspace_of_key(client: ASGIClient) -> None:
    assert client.get(url("/", ("nocache", "true"))).json() == {"workspace": "default"}
    response = client.get("/?api_key=wrong-key-123")
    assert response.status_code == 401 and "API key" in response.json()["message"]
    assert client.get("/").status_code == 401


def test_project_type(client: ASGIClient) -> None:
    create_project(client, "signs", "classification")
    body = client.get(url("/default/signs")).json()
    assert body["project"]["type"] == "classification"
    assert client.get(url("/default/nope")).status_code == 404


def test_read_and_write_al_config(client: ASGIClient) -> None:
    create_project(client)
    assert client.get(url("/default/cars/active_learning")).json() == {"enabled": False}
    response = client.post(url("/default/cars/active_learning"), json={"config": AL_CONFIG})
    assert response.status_code == 200, response.text
    assert client.get(url("/default/cars/active_learning")).json() == AL_CONFIG
    bad = dict(
        AL_CONFIG, sampling_strategies=[{"name": "x", "type": "random", "traffic_percentage": 3}]
    )
    response = client.post(url("/default/cars/active_learning"), json={"config": bad})
    assert response.status_code == 400
    assert "sampling_strategies[0].traffic_percentage" in response.json()["message"]
    response = client.post(url("/default/cars/active_learning"), json={"enabled": True})
    assert response.status_code == 400 and "config" in response.json()["message"]
    assert client.get(url("/default/cars/active_learning")).json() == AL_CONFIG


def test_config_saved_with_unknown_fields_answers_with_warnings(client: ASGIClient) -> None:
    create_project(client)
    config = {**AL_CONFIG, "target_project": "cars", "colour": 1}
    response = client.post(url("/default/cars/active_learning"), json={"config": config})
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == ["colour: unknown field, ignored"]
    # stored as given: a reference server reading it back sees the same document
    assert client.get(url("/default/cars/active_learning")).json() == config


def test_upload_with_repeated_tags_batches_and_jobs(client: ASGIClient) -> None:
    create_project(client)
    batch = "al_batch 2026/11 [x]"
    body = upload(
        client,
        make_jpeg(seed=1),
        ("batch", batch),
        ("inference_id", "inf 1"),
        ("tag", "camera:1"),
        ("tag", "site/a.b"),
    )
    assert body["success"] is True and isinstance(body["id"], str)
    details = client.get(url(f"/v1/images/{body['id']}")).json()
    assert details["tags"] == ["camera:1", "site/a.b"]
    assert details["batch"] == batch and details["inference_id"] == "inf 1"
    assert details["name"] == "3f1b2c4d-uuid.jpg"
    batches = client.get(url("/default/cars/batches")).json()["batches"]
    assert [(b["name"], b["images"], b["numJobs"]) for b in batches] == [(batch, 1, 0)]
    assert set(batches[0]["uploaded"]) == {"_seconds", "_nanoseconds"}
    jobs = client.get(url("/default/cars/jobs")).json()["jobs"]
    assert jobs[0]["sourceBatch"] == f"default/{batches[0]['id']}"
    assert (jobs[0]["numImages"], jobs[0]["annotated"], jobs[0]["unannotated"]) == (1, 0, 1)


def reference_batch_total(client: ASGIClient, project: str, batch: str) -> int:
    """The images a reference server counts in ``batch`` before it uploads (its batch cap).

    Restates inference 1.8.3 ``active_learning/accounting.py``: the batch's
    ``images``, plus, when the batch has ``numJobs > 0``, the ``numImages`` of
    every job whose ``sourceBatch`` contains the batch id.
    """
    batches = client.get(url(f"/default/{project}/batches")).json()["batches"]
    match = next((b for b in batches if b["name"] == batch), None)
    if match is None:
        return 0
    in_jobs = 0
    if match["numJobs"] > 0:
        jobs = client.get(url(f"/default/{project}/jobs")).json()["jobs"]
        in_jobs = sum(j["numImages"] for j in jobs if match["id"] in j["sourceBatch"])
    return int(match["images"]) + in_jobs


def test_reference_batch_cap_counts_each_image_once(client: ASGIClient) -> None:
    create_project(client)
    for seed in range(3):
        upload(client, make_jpeg(seed=20 + seed), ("batch", "capped"))
        assert reference_batch_total(client, "cars", "capped") == seed + 1
    # Labeling progress stays readable under /jobs.
    jobs = client.get(url("/default/cars/jobs")).json()["jobs"]
    assert [(j["numImages"], j["unannotated"]) for j in jobs] == [(3, 3)]


def test_duplicate_upload_answers_duplicate(client: ASGIClient) -> None:
    create_project(client)
    first = upload(client, make_jpeg(seed=5), ("batch", "b"))
    again = upload(client, make_jpeg(seed=5), ("batch", "b"))
    assert again == {"duplicate": True, "id": first["id"]}


def test_upload_metadata_field_is_kept(client: ASGIClient) -> None:
    create_project(client)
    response = client.post(
        url("/dataset/cars/upload", ("batch", "b")),
        data={"name": "x.jpg", "metadata": json.dumps({"camera": "north"})},
        files={"file": ("imageToUpload", make_jpeg(), "image/jpeg")},
    )
    details = client.get(url(f"/v1/images/{response.json()['id']}")).json()
    assert details["metadata"] == {"camera": "north"}


def test_annotate_detection_json_as_prediction(client: ASGIClient) -> None:
    create_project(client)
    image_id = str(upload(client, make_jpeg(), ("batch", "b"))["id"])
    response = client.post(
        url(f"/dataset/cars/annotate/{image_id}", ("name", "3f1b.json"), ("prediction", "true")),
        content=json.dumps(
            make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"])
        ).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.json() == {"success": True}
    details = client.get(url(f"/v1/images/{image_id}")).json()
    assert details["annotations"][0]["kind"] == "prediction"
    assert details["status"] == "unlabeled"  # a prediction is not a label
    again = client.post(
        url(f"/dataset/cars/annotate/{image_id}", ("name", "3f1b.json"), ("prediction", "true")),
        content=json.dumps(
            make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"])
        ).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert again.status_code == 409


def test_annotate_classification_txt(client: ASGIClient) -> None:
    create_project(client, "signs", "classification")
    image_id = str(upload(client, make_jpeg(), ("batch", "b"), project="signs")["id"])
    response = client.post(
        url(f"/dataset/signs/annotate/{image_id}", ("name", "3f1b.txt"), ("prediction", "true")),
        content=b"stop sign",
        headers={"Content-Type": "text/plain"},
    )
    assert response.json() == {"success": True}
    details = client.get(url(f"/v1/images/{image_id}")).json()
    assert details["annotations"][0]["body"] == "stop sign"


def test_upload_into_full_batch_is_409(client: ASGIClient) -> None:
    create_project(client)
    client.post(url("/default/cars/active_learning"), json={"config": capped_config(1)})
    upload(client, make_jpeg(seed=1), ("batch", "b"))
    response = client.post(
        url("/dataset/cars/upload", ("batch", "b")),
        data={"name": "x.jpg"},
        files={"file": ("imageToUpload", make_jpeg(seed=2), "image/jpeg")},
    )
    assert response.status_code == 409
    assert (
        "full" in response.json()["message"]
        and "max_batch_images is 1" in response.json()["message"]
    )


def test_stats_and_usage_are_accepted_and_ignored(client: ASGIClient) -> None:
    assert client.post("/inference-stats", json={"anything": 1}).json() == {}
    assert client.post("/usage/inference", content=b"not json").json() == {}
    assert client.post(url("/default/inference-stats"), json={"inference_results": []}).json() == {}
    assert client.post(url("/default/inference-stats/metadata"), json={"data": []}).json() == {}


def test_annotation_without_image_size_gets_the_stored_size(client: ASGIClient) -> None:
    create_project(client)
    image_id = str(upload(client, make_jpeg(64, 48), ("batch", "b"))["id"])
    body = {
        "predictions": make_detections_json(
            [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
        )["predictions"]
    }
    response = client.post(
        url(f"/dataset/cars/annotate/{image_id}", ("name", "p.json"), ("prediction", "true")),
        content=json.dumps(body).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.json() == {"success": True}, response.text
    stored = client.get(url(f"/v1/images/{image_id}")).json()["annotations"][0]["body"]
    assert stored["image"] == {"width": 64, "height": 48}
    assert stored["predictions"] == body["predictions"]


def test_prediction_declaring_another_image_size_is_mapped_onto_the_stored_image(
    client: ASGIClient,
) -> None:
    # A reference server with max_image_size uploads the shrunk JPEG (64x48 from 256x96:
    # scale 0.25 in x, 0.5 in y) and then the prediction divided by the scale instead of
    # multiplied: image size and boxes both four/two times too large, consistently.
    create_project(client)
    image_id = str(upload(client, make_jpeg(64, 48), ("batch", "b"))["id"])
    sent = make_detections_json(
        [[10.0, 12.0, 8.0, 6.0]],
        class_name=["car"],
        detection_id=["d0"],
        width=64 * 4,
        height=48 * 2,
    )
    sent["predictions"][0].update({"x": 40.0, "y": 24.0, "width": 32.0, "height": 12.0})
    sent["predictions"][0]["tracker_id"] = 7  # fields winnow does not model are kept
    response = client.post(
        url(f"/dataset/cars/annotate/{image_id}", ("name", "p.json"), ("prediction", "true")),
        content=json.dumps(sent).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.json() == {"success": True}
    stored = client.get(url(f"/v1/images/{image_id}")).json()["annotations"][0]["body"]
    assert stored["image"] == {"width": 64, "height": 48}
    box = stored["predictions"][0]
    assert (box["x"], box["y"], box["width"], box["height"]) == (10.0, 12.0, 8.0, 6.0)
    assert box["tracker_id"] == 7


def test_fit_to_stored_image_scales_points_and_keypoints_per_axis() -> None:
    sent = {
        "image": {"width": 200, "height": 100},
        "predictions": [
            {
                "x": 100,
                "y": 50,
                "width": 20,
                "height": 10,
                "points": [{"x": 10, "y": 20}],
                "keypoints": [{"x": 30, "y": 40, "confidence": 0.5, "class": "nose"}],
            }
        ],
    }
    fitted = json.loads(fit_to_stored_image(json.dumps(sent), 100, 25))
    (item,) = fitted["predictions"]
    assert (item["x"], item["y"], item["width"], item["height"]) == (50, 12.5, 10, 2.5)
    assert item["points"] == [{"x": 5, "y": 5}]
    assert item["keypoints"] == [{"x": 15, "y": 10, "confidence": 0.5, "class": "nose"}]
    assert fitted["image"] == {"width": 100, "height": 25}
    same = json.dumps(dict(sent, image={"width": 100, "height": 25}))
    assert fit_to_stored_image(same, 100, 25) == same
    odd_sizes = ('{"image": {"width": 0}}', '{"image": {"width": Infinity, "height": 2}}')
    for untouched in ("stop sign", "{not json", '{"predictions": []}', *odd_sizes):
        assert fit_to_stored_image(untouched, 100, 25) == untouched


def test_usage_plan_of_a_valid_key_is_never_over_quota(client: ASGIClient) -> None:
    # The reference asks with the key as Bearer; a 4xx makes it treat the key as over quota.
    response = client.get("/usage/plan", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json() == {"over_quota": False}
    assert (
        client.get("/usage/plan", headers={"Authorization": "Bearer wrong-key"}).status_code == 401
    )

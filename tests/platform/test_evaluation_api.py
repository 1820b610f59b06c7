"""GET /evaluation, /evaluation/compare and /yield on stored predictions and human labels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.evaluation.data import (
    API_KEY,
    BUS,
    CAR,
    add_image,
    classification,
    det,
    register_constant_model,
)
from tests.factories import make_jpeg, new_project
from tests.server.asgi_client import ASGIClient
from winnow.errors import NotFoundError
from winnow.evaluation.routes import router as evaluation_router
from winnow.http.errors import install_error_handlers
from winnow.platform import routes as platform_routes
from winnow.platform import store
from winnow.platform.labeling import save_human_annotation, set_image_status
from winnow.platform.schema import EvaluationPrediction, Image
from winnow.platform.service import DatapointInput, Platform

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def evaluation_app(platform: Platform) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = platform
    app.include_router(evaluation_router)
    app.include_router(platform_routes.router)
    return app


@pytest.fixture
def api(platform: Platform) -> Iterator[ASGIClient]:
    with ASGIClient(evaluation_app(platform)) as test_client:
        yield test_client


@pytest.fixture
def cars(platform: Platform) -> list[int]:
    """Four labeled images (two rules) and one unlabeled: rule 'rand' right, 'hard' wrong."""
    new_project(platform, "cars")
    return [
        add_image(platform, 1, det(CAR), det(CAR)),
        add_image(platform, 2, det(CAR, BUS), det(CAR, BUS)),
        add_image(platform, 3, det(CAR), det(CAR, BUS), strategy="hard"),  # missed the bus
        add_image(platform, 4, det(("bus", *CAR[1:])), det(CAR), strategy="hard", batch="b2"),
        add_image(platform, 5, det(CAR), None),
    ]


def test_evaluation_reports_figures_of_the_labeled_images(api: ASGIClient, cars: list[int]) -> None:
    response = api.get("/v1/projects/cars/evaluation", params={"model_id": "cars/1"}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["images"] == 4
    assert body["per_class"]["car"]["support"] == 4
    assert body["per_class"]["bus"]["support"] == 2
    assert body["per_class"]["car"]["recall"] == 0.75
    assert body["per_class"]["bus"]["precision"] == 0.5
    assert 0 < body["map"] < 1
    labels = body["confusion"]["labels"]
    assert labels == ["bus", "car", "background"]
    # image 4: a car called a bus; image 3: a bus missed.
    assert body["confusion"]["matrix"][labels.index("car")][labels.index("bus")] == 1
    assert body["confusion"]["matrix"][labels.index("bus")][labels.index("background")] == 1
    worst = {w["image_id"] for w in body["worst_images"]}
    assert worst == {cars[2], cars[3]}


def test_evaluation_slices_by_batch_strategy_tag_and_model(
    api: ASGIClient, cars: list[int]
) -> None:
    def images(**params: Any) -> int:
        response = api.get("/v1/projects/cars/evaluation", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return int(response.json()["images"])

    assert images(batch="b2") == 1
    assert images(batch=["b1", "b2"]) == 4
    assert images(strategy="rand") == 2
    assert images(tag="night") == 2
    assert images(model_id="cars/2") == 0
    assert images(config_version=2) == 0
    assert images(since="2000-01-01", until="2000-01-02") == 0
    perfect = api.get("/v1/projects/cars/evaluation", params={"strategy": "rand"}, headers=AUTH)
    assert perfect.json()["map50"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"batch": "nope"}, "batch"),
        ({"since": "yesterday"}, "since"),
        ({"config_version": "x"}, "config_version"),
    ],
)
def test_bad_slices_get_a_400_naming_the_parameter(
    api: ASGIClient, cars: list[int], params: dict[str, str], named: str
) -> None:
    response = api.get("/v1/projects/cars/evaluation", params=params, headers=AUTH)
    assert response.status_code in (400, 422)
    assert named in response.text


def test_evaluation_needs_a_key_and_a_known_project(api: ASGIClient, cars: list[int]) -> None:
    assert api.get("/v1/projects/cars/evaluation").status_code == 401
    assert api.get("/v1/projects/nope/evaluation", headers=AUTH).status_code == 404


def test_yield_says_which_rule_found_the_mistakes(api: ASGIClient, cars: list[int]) -> None:
    response = api.get("/v1/projects/cars/yield", headers=AUTH)
    assert response.status_code == 200, response.text
    rules = {(r["strategy"], r["config_version"]): r for r in response.json()["rules"]}
    assert rules["rand", 1] == {
        "strategy": "rand",
        "config_version": 1,
        "stored": 3,
        "labeled": 2,
        "compared": 2,
        "corrected": 0,
        "corrected_share": 0.0,
        "mean_corrections": 0.0,
    }
    assert rules["hard", 1]["corrected"] == 2
    assert rules["hard", 1]["corrected_share"] == 1.0
    assert rules["hard", 1]["mean_corrections"] == 1.0  # one added bus, one relabeled car
    today = response.json()["days"]
    assert sum(d["stored"] for d in today["strategies"]["rand"]) == 3


def test_yield_follows_labels_saved_after_it_was_read(
    api: ASGIClient, platform: Platform, cars: list[int]
) -> None:
    def rules() -> dict[tuple[str, int], dict[str, Any]]:
        response = api.get("/v1/projects/cars/yield", headers=AUTH)
        assert response.status_code == 200, response.text
        return {(r["strategy"], r["config_version"]): r for r in response.json()["rules"]}

    assert rules()["hard", 1]["corrected"] == 2  # read once: its comparisons are remembered
    workspace = platform.workspace(API_KEY)
    with platform.db.write() as session:
        project = store.get_project(session=session, workspace=workspace, name="cars")
        for image_id, truth in ((cars[2], det(CAR)), (cars[4], det())):
            image = session.get(Image, image_id)
            assert image is not None
            save_human_annotation(
                session=session, image=image, project=project, body=json.dumps(truth), name="h.json"
            )
    after = rules()
    # Image 3 relabeled as predicted: one hard image left corrected, by one relabeled car.
    assert after["hard", 1]["corrected"] == 1
    assert after["hard", 1]["mean_corrections"] == 0.5
    # Image 5 labeled empty where the model saw a car: one removed box.
    assert (after["rand", 1]["labeled"], after["rand", 1]["corrected"]) == (3, 1)
    assert after["rand", 1]["mean_corrections"] == pytest.approx(1 / 3)
    with platform.db.write() as session:
        image = session.get(Image, cars[3])
        assert image is not None
        set_image_status(session=session, image=image, status="unlabeled")
    sent_back = rules()["hard", 1]
    assert (sent_back["labeled"], sent_back["compared"], sent_back["corrected"]) == (1, 1, 0)


def test_compare_puts_two_versions_side_by_side(
    api: ASGIClient, platform: Platform, cars: list[int]
) -> None:
    # Version 2 predicts every labeled image exactly as the human did.
    with platform.db.write() as session:
        project = store.get_project(
            session=session, workspace=platform.workspace(API_KEY), name="cars"
        )
        for image_id, truth in zip(
            cars[:4], [det(CAR), det(CAR, BUS), det(CAR, BUS), det(CAR)], strict=True
        ):
            session.add(
                EvaluationPrediction(
                    project_id=project.id,
                    image_id=image_id,
                    model_id="cars/2",
                    body=json.dumps(truth),
                )
            )
    v2 = api.get("/v1/projects/cars/evaluation", params={"model_id": "cars/2"}, headers=AUTH).json()
    assert v2["images"] == 4
    assert v2["map"] == pytest.approx(1.0)
    response = api.get(
        "/v1/projects/cars/evaluation/compare", params={"a": "cars/1", "b": "cars/2"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["images"] == 4
    assert body["b"]["map"] == pytest.approx(1.0)
    assert body["difference"]["map"] == pytest.approx(1.0 - body["a"]["map"])
    assert body["difference"]["per_class"]["bus"]["recall"] == pytest.approx(0.5)
    # Evaluation predictions are never pre-annotations: the image's annotations are unchanged.
    details = api.get(f"/v1/images/{cars[0]}", headers=AUTH).json()
    assert {a["kind"] for a in details["annotations"]} == {"prediction", "human"}


def test_an_evaluation_run_predicts_the_batches_in_the_background(
    api: ASGIClient, platform: Platform, cars: list[int]
) -> None:
    import time

    import numpy as np

    from winnow.models.base import InferenceParams
    from winnow.predictions import prediction_to_json

    model = register_constant_model(platform, "cars/3")
    [answer] = model.infer([np.zeros((48, 64, 3), np.uint8)], InferenceParams())
    started = api.post(
        "/v1/projects/cars/evaluations",
        json={"model_id": "cars/3", "batches": ["b1"]},
        headers=AUTH,
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        job = api.get(f"/v1/projects/cars/evaluations/{job_id}", headers=AUTH).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    assert (job["done"], job["total"], job["progress"]) == (3, 3, 1.0)  # b1's labeled images
    result = job["result"]
    assert result["images"] == 3
    assert result["predictions"] == 3  # one car per image
    # The run found what the model finds when served: its one car on each image.
    expected = prediction_to_json(answer)["predictions"][0]
    with platform.db.read() as session:
        from sqlalchemy import select

        bodies = list(
            session.scalars(
                select(EvaluationPrediction.body).where(EvaluationPrediction.model_id == "cars/3")
            )
        )
    assert len(bodies) == 3
    stored = json.loads(bodies[0])["predictions"][0]
    assert stored["class"] == "car"
    assert stored["x"] == pytest.approx(expected["x"])
    # Never a pre-annotation: the images still have their one prediction and one human label.
    details = api.get(f"/v1/images/{cars[0]}", headers=AUTH).json()
    assert sorted(a["kind"] for a in details["annotations"]) == ["human", "prediction"]


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"batches": ["b1"]}, 400, "model_id"),
        ({"model_id": "cars/9", "batches": ["b1"]}, 404, "cars/9"),
        ({"model_id": "boats/1", "batches": ["b1"]}, 400, "model_id"),
        ({"model_id": "cars/3", "batches": []}, 400, "batches"),
        ({"model_id": "cars/3", "batches": ["zz"]}, 404, "zz"),
    ],
)
def test_bad_evaluation_runs_get_a_4xx_naming_the_field(
    api: ASGIClient,
    platform: Platform,
    cars: list[int],
    body: dict[str, Any],
    status: int,
    named: str,
) -> None:
    register_constant_model(platform, "cars/3")
    response = api.post("/v1/projects/cars/evaluations", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert named in response.text
    assert api.get("/v1/projects/cars/evaluations/12345", headers=AUTH).status_code == 404


def test_a_classification_project_gets_accuracy_and_per_class_f1(
    api: ASGIClient, platform: Platform
) -> None:
    workspace = platform.workspace(API_KEY)
    new_project(platform, "pets", "classification")
    for seed, (served, truth) in enumerate([("cat", "cat"), ("cat", "dog"), ("dog", "dog")]):
        result = platform.register(
            workspace=workspace,
            project="pets",
            data=make_jpeg(seed=seed + 10),
            datapoint=DatapointInput(
                batch_name="b1", prediction=classification(served), strategy="rand"
            ),
        )
        with platform.db.write() as session:
            project = store.get_project(session=session, workspace=workspace, name="pets")
            image = session.get(Image, result.image.id)
            assert image is not None
            save_human_annotation(
                session=session, image=image, project=project, body=truth, name="h.txt"
            )
    body = api.get("/v1/projects/pets/evaluation", headers=AUTH).json()
    assert body["images"] == 3
    assert body["accuracy"] == pytest.approx(2 / 3)
    assert body["per_class"]["cat"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
        "predicted": 2,
        "tp": 1,
    }
    assert body["confusion"]["labels"] == ["cat", "dog", "(none)"]
    assert body["confusion"]["matrix"][1] == [1, 1, 0]
    rules = api.get("/v1/projects/pets/yield", headers=AUTH).json()["rules"]
    assert rules[0]["corrected"] == 1 and rules[0]["mean_corrections"] == pytest.approx(1 / 3)


def test_a_run_that_cannot_load_its_model_ends_failed_with_the_reason(
    api: ASGIClient, platform: Platform, cars: list[int]
) -> None:
    from winnow.evaluation import jobs

    register_constant_model(platform, "cars/3")
    workspace = platform.workspace(API_KEY)
    project, record = platform.model_version(workspace, "cars", 3)
    platform.blobs.delete(record.blob_key)
    job = jobs.create_job(platform=platform, project=project, model_id="cars/3", batches=["b1"])
    with pytest.raises(NotFoundError):
        jobs.run_job(platform=platform, project=project, job=job)
    state = api.get(f"/v1/projects/cars/evaluations/{job.id}", headers=AUTH).json()
    assert state["status"] == "failed"
    assert "not found" in state["error"]
    assert state["result"] is None


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"strategy": "a\x00b"}, "strategy"),
        ({"tag": "x\x01"}, "tag"),
        ({"config_version": str(2**40)}, "config_version"),
    ],
)
def test_control_characters_and_huge_numbers_are_400_not_a_database_error(
    api: ASGIClient, cars: list[int], params: dict[str, str], named: str
) -> None:
    response = api.get("/v1/projects/cars/evaluation", params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]
    posted = api.post(
        "/v1/projects/cars/evaluations",
        json={"model_id": "cars/1", "batches": ["b\x00"]},
        headers=AUTH,
    )
    assert posted.status_code == 400 and "batches" in posted.text


def test_evaluation_predictions_are_never_exported_as_labels(platform: Platform) -> None:
    from winnow.platform.export.routes import make_query
    from winnow.platform.export.rows import build_export

    workspace = platform.workspace(API_KEY)
    new_project(platform, "cars")
    image_id = add_image(platform, 1, det(), None)  # served: nothing found; never labeled
    with platform.db.write() as session:
        project = store.get_project(session=session, workspace=workspace, name="cars")
        session.add(
            EvaluationPrediction(
                project_id=project.id,
                image_id=image_id,
                model_id="cars/2",
                body=json.dumps(det(CAR, BUS)),
            )
        )
    query = make_query(statuses=["unlabeled"], predictions=True, split="1,0,0")
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=workspace, name="cars")
        dataset = build_export(session=session, project=project, query=query)
    assert len(dataset.images) == 1
    assert dataset.images[0].annotations == ()

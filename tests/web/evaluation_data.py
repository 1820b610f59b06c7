"""A small labeled detection project for the Evaluation page tests: versions cars/1 and cars/2."""

from __future__ import annotations

import json
from typing import Any

from tests.factories import KEY, make_boxes_json, make_jpeg, new_project
from winnow.platform import labeling, store
from winnow.platform.schema import EvaluationPrediction, Image
from winnow.platform.service import DatapointInput, Platform


def detection(
    name: str, x: float, y: float, w: float, h: float, confidence: float
) -> dict[str, Any]:
    """One reference-shaped detection (box centre x, y)."""
    return make_boxes_json([[x, y, w, h]], class_name=[name], confidence=[confidence])[0]


CAR = detection("car", 200, 150, 100, 80, 0.8)
TRUCK = detection("truck", 420, 300, 120, 90, 0.7)
PERSON = detection("person", 100, 380, 40, 90, 0.6)


def body(*predictions: dict[str, Any]) -> dict[str, Any]:
    return {"image": {"width": 640, "height": 480}, "predictions": list(predictions)}


def labeled_project(platform: Platform) -> list[int]:
    """Eight labeled images: cars/1 misses every person, cars/2 (an evaluation run) finds them."""
    new_project(platform, "cars")
    workspace = platform.workspace(KEY)
    ids = []
    for seed in range(8):
        truth = body(CAR, TRUCK, PERSON) if seed % 2 else body(CAR, TRUCK)
        served = (
            body(CAR, TRUCK) if seed != 3 else body(CAR, detection("car", 420, 300, 120, 90, 0.5))
        )
        result = platform.register(
            workspace=workspace,
            project="cars",
            data=make_jpeg(640, 480, seed=seed, quality=85, pattern="gradient"),
            datapoint=DatapointInput(
                batch_name="batch-1",
                prediction=served,
                strategy="uncertain" if seed % 2 else "random-10",
                model_id="cars/1",
                config_version=1,
            ),
        )
        with platform.db.write() as session:
            project = store.get_project(session=session, workspace=workspace, name="cars")
            image = session.get(Image, result.image.id)
            assert image is not None
            labeling.save_human_annotation(
                session=session, image=image, project=project, body=json.dumps(truth), name="h.json"
            )
            session.add(
                EvaluationPrediction(
                    project_id=project.id,
                    image_id=image.id,
                    model_id="cars/2",
                    body=json.dumps(truth),
                )
            )
        ids.append(int(result.image.id))
    return ids

"""Labeled detection and classification images for the evaluation tests, and a constant ONNX model."""

from __future__ import annotations

import json
from typing import Any

from tests.factories import KEY, make_jpeg
from winnow.platform import store
from winnow.platform.labeling import save_human_annotation
from winnow.platform.schema import Image
from winnow.platform.service import DatapointInput, Platform

API_KEY = KEY


def det(*boxes: tuple[str, float, float, float, float], conf: float = 0.9) -> dict[str, Any]:
    """Prediction JSON of boxes given as (class, x1, y1, x2, y2)."""
    return {
        "image": {"width": 64, "height": 48},
        "predictions": [
            {
                "x": (x1 + x2) / 2,
                "y": (y1 + y2) / 2,
                "width": x2 - x1,
                "height": y2 - y1,
                "confidence": conf,
                "class": name,
                "class_id": 0,
            }
            for name, x1, y1, x2, y2 in boxes
        ],
    }


CAR = ("car", 5.0, 5.0, 25.0, 25.0)
BUS = ("bus", 30.0, 10.0, 60.0, 40.0)


def add_image(
    platform: Platform,
    seed: int,
    prediction: dict[str, Any],
    truth: dict[str, Any] | None,
    *,
    strategy: str = "rand",
    batch: str = "b1",
    model_id: str = "cars/1",
    config_version: int = 1,
) -> int:
    workspace = platform.workspace(API_KEY)
    result = platform.register(
        workspace=workspace,
        project="cars",
        data=make_jpeg(seed=seed),
        datapoint=DatapointInput(
            batch_name=batch,
            prediction=prediction,
            strategy=strategy,
            model_id=model_id,
            config_version=config_version,
            tags=("night",) if seed % 2 else (),
        ),
    )
    if truth is not None:
        with platform.db.write() as session:
            project = store.get_project(session=session, workspace=workspace, name="cars")
            image = session.get(Image, result.image.id)
            assert image is not None
            save_human_annotation(
                session=session, image=image, project=project, body=json.dumps(truth), name="h.json"
            )
    return result.image.id


E2E_META = {
    "task": "detect",
    "names": "{0: 'car', 1: 'bus'}",
    "imgsz": "[640, 640]",
    "end2end": "True",
}


def register_constant_model(platform: Platform, model_id: str) -> Any:
    """A registered ONNX version that finds one car (0.9) in every image; returns it loaded."""
    from tests.models.graphs import constant_model, end2end_head
    from winnow.models.onnx.model import load_onnx_model

    data = constant_model([end2end_head([[100, 150, 300, 400, 0.9, 0]], 6)], metadata=E2E_META)
    platform.add_model(workspace=platform.workspace(API_KEY), model_id=model_id, data=data)
    return load_onnx_model(model_id, data)


def classification(top: str) -> dict[str, Any]:
    other = "dog" if top == "cat" else "cat"
    return {
        "image": {"width": 64, "height": 48},
        "predictions": [
            {"class": top, "class_id": 0, "confidence": 0.8},
            {"class": other, "class_id": 1, "confidence": 0.2},
        ],
        "top": top,
        "confidence": 0.8,
    }

"""A multi-label classification project collects its classifier's predictions end to end.

Issue 10: the collector took only ``classification`` for a classification
project type, so a ``multi-label-classification`` project refused every
prediction of its own classifier. Here a tiny ONNX classifier (built with
``onnx.helper``) scores cat 0.9, dog 0.75, bird 0.1 and is served through the
whole app; the prediction is collected, stored as the image's annotation and
exported with the image in the folder of each predicted class.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest

from tests.apps import drain, make_project, project_images
from tests.factories import AUTH, al_config, v1_body
from tests.models.graphs import constant_model
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.settings import Settings

NAMES = ["cat", "dog", "bird"]
SCORES = [0.9, 0.75, 0.1]


def multilabel_classifier() -> bytes:
    """A 32x32 classifier whose independent class scores are always :data:`SCORES`."""
    metadata = {
        "task": "classify",
        "names": repr(dict(enumerate(NAMES))),
        "imgsz": "[32, 32]",
    }
    return constant_model(
        [np.array([SCORES], np.float32)], input_shape=("batch", 3, 32, 32), metadata=metadata
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[ASGIClient]:
    with ASGIClient(create_app(settings)) as app_client:
        yield app_client


def test_multilabel_project_collects_stores_and_exports_its_classifiers_predictions(
    client: ASGIClient,
) -> None:
    make_project(client, "tags", "multi-label-classification", al_config())
    added = client.post(
        "/v1/models",
        data={"model_id": "tags/1"},
        files={"file": ("m.onnx", multilabel_classifier(), "application/octet-stream")},
        headers=AUTH,
    )
    assert added.status_code == 201, added.text

    response = client.post("/infer/classification", json=v1_body("tags/1", confidence=0.5))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert sorted(answer["predicted_classes"]) == ["cat", "dog"], answer

    drain(client.app)
    (image,) = project_images(client, "tags")
    assert image["model_id"] == "tags/1" and image["strategy"] == "rnd"
    details = client.get(f"/v1/images/{image['id']}", headers=AUTH)
    assert details.status_code == 200, details.text
    (annotation,) = details.json()["annotations"]
    stored = annotation["body"]
    assert sorted(stored["predicted_classes"]) == ["cat", "dog"], stored
    assert {name: round(p["confidence"], 3) for name, p in stored["predictions"].items()} == dict(
        zip(NAMES, SCORES, strict=True)
    )

    # The collected image is unlabeled: its prediction is what gets exported.
    query = {"format": "folders", "split": "1,0,0", "status": "unlabeled"}
    export = client.get("/v1/projects/tags/export", params=query, headers=AUTH)
    assert export.status_code == 200, export.text
    paths = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    images = sorted(p for p in paths if p.endswith((".jpg", ".jpeg", ".png")))
    assert [p.split("/")[:2] for p in images] == [["train", "cat"], ["train", "dog"]], paths

"""The reference inference server's HTTP app, built the way its CPU docker image builds it.

Runs inside the reference virtualenv (``.cache/ref-venv``), never in winnow's:
``python -m uvicorn app:app`` with this folder on ``PYTHONPATH`` and a working
directory holding the empty ``inference/landing/out/{static,_next/static}``
folders the app mounts. It mirrors the image's ``docker/config/cpu_http.py``
(registry, background-task active learning manager, fixed-size model cache,
pingback, HTTP interface) without the stream manager process.

The only code of ours is the stub models (``<project>/0``):

* the reference 1.8.3 ``ModelManager.add_model`` passes ``countinference`` and
  ``service_secret`` to every model class, and its own ``ModelStub.__init__``
  takes neither, so an unmodified 1.8.3 server answers 500 for every stub
  model; our stubs accept and drop those keywords;
* stubs predict nothing, so a datapoint's prediction is never persisted; for
  the projects listed in ``REF_HARNESS_BOX_PROJECTS`` (comma separated) the
  object-detection stub answers one fixed box instead (centre of the image,
  half its width and height, class ``thing``), so the reference's annotation
  upload runs too.

Everything from the request route to the platform calls (configuration,
sampling, limits, image preparation, upload, annotation) is the reference's.
"""

import os
from typing import Any

import numpy as np
from inference.core.cache import cache
from inference.core.entities.responses.inference import (
    InferenceResponseImage,
    ObjectDetectionInferenceResponse,
    ObjectDetectionPrediction,
)
from inference.core.env import ACTIVE_LEARNING_ENABLED, MAX_ACTIVE_MODELS
from inference.core.interfaces.http.http_api import HttpInterface
from inference.core.managers.active_learning import BackgroundTaskActiveLearningManager
from inference.core.managers.base import ModelManager
from inference.core.managers.decorators.fixed_size_cache import WithFixedSizeCache
from inference.core.models.stubs import (
    ClassificationModelStub,
    InstanceSegmentationModelStub,
    KeypointsDetectionModelStub,
    ObjectDetectionModelStub,
)
from inference.core.registries.roboflow import RoboflowModelRegistry
from inference.core.utils.image_utils import load_image_rgb
from inference.models.utils import ROBOFLOW_MODEL_TYPES

BOX_PROJECTS = {
    name.strip() for name in os.environ.get("REF_HARNESS_BOX_PROJECTS", "").split(",") if name
}


def _accepting_manager_keywords(stub: type) -> type:
    """A subclass of ``stub`` whose constructor drops the keywords 1.8.3 stubs reject."""

    def init(self: Any, model_id: str, api_key: str, **_ignored: Any) -> None:
        stub.__init__(self, model_id=model_id, api_key=api_key)  # type: ignore[misc]

    return type(stub.__name__, (stub,), {"__init__": init})


def _image_size(image: Any) -> tuple[int, int]:
    """(height, width) of a request image; workflows hand decoded numpy images to models,
    which this configuration's ``load_image_rgb`` refuses to load from a request."""
    first = image[0] if isinstance(image, list) else image
    value = first.get("value") if isinstance(first, dict) else getattr(first, "value", None)
    if isinstance(value, np.ndarray):
        return int(value.shape[0]), int(value.shape[1])
    height, width = load_image_rgb(image).shape[:2]
    return int(height), int(width)


class _DetectionStub(_accepting_manager_keywords(ObjectDetectionModelStub)):  # type: ignore[misc]
    """The object-detection stub; one fixed box for the projects in BOX_PROJECTS."""

    def infer_from_request(self, request: Any) -> Any:
        if self.dataset_id not in BOX_PROJECTS:
            return super().infer_from_request(request)
        height, width = _image_size(request.image)
        box = ObjectDetectionPrediction(
            x=width / 2,
            y=height / 2,
            width=width / 2,
            height=height / 2,
            confidence=0.9,
            class_id=0,
            **{"class": "thing"},
        )
        return ObjectDetectionInferenceResponse(
            predictions=[box],
            image=InferenceResponseImage(width=width, height=height),
            time=0.0,
        )


MODEL_TYPES = dict(ROBOFLOW_MODEL_TYPES)
MODEL_TYPES[("object-detection", "stub")] = _DetectionStub
MODEL_TYPES[("classification", "stub")] = _accepting_manager_keywords(ClassificationModelStub)
MODEL_TYPES[("instance-segmentation", "stub")] = _accepting_manager_keywords(
    InstanceSegmentationModelStub
)
MODEL_TYPES[("keypoint-detection", "stub")] = _accepting_manager_keywords(
    KeypointsDetectionModelStub
)

registry = RoboflowModelRegistry(MODEL_TYPES)
manager: ModelManager
if ACTIVE_LEARNING_ENABLED:
    manager = BackgroundTaskActiveLearningManager(model_registry=registry, cache=cache)
else:
    manager = ModelManager(model_registry=registry)
manager = WithFixedSizeCache(manager, max_size=MAX_ACTIVE_MODELS)
manager.init_pingback()
app = HttpInterface(manager).app

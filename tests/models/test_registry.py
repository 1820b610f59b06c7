"""ModelRegistry: stubs, download-once cache with sha256 check, LRU, workspaces, threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.models.sources import MemorySource
from winnow.errors import (
    BadRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from winnow.models.base import InferenceParams
from winnow.models.onnx.model import OnnxModel
from winnow.models.registry import ModelRegistry, parse_model_id
from winnow.models.stub import StubModel
from winnow.predictions import ClassificationPrediction, DetectionPrediction, StubPrediction


@pytest.fixture
def source() -> MemorySource:
    src = MemorySource()
    src.add("ws-a", "cars", 1, ("car", "bus"))
    src.add("ws-a", "cars", 2, ("car", "bus"))
    src.add("ws-a", "boats", 1, ("boat",))
    src.add("ws-b", "cars", 1, ("sedan", "truck", "van"))
    src.projects[("ws-a", "leaves")] = "multi-label-classification"
    return src


@pytest.fixture
def registry(source: MemorySource, tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(source, cache_dir=tmp_path / "models", max_loaded=2)


def test_version_zero_is_the_stub_of_the_projects_type(registry: ModelRegistry) -> None:
    model = registry.get("key-a", "leaves/0")
    assert isinstance(model, StubModel)
    assert (model.model_id, model.task_type) == ("leaves/0", "classification")
    [prediction] = model.infer([np.zeros((4, 4, 3), np.uint8)], InferenceParams())
    assert prediction == StubPrediction(model_id="leaves/0", task_type="classification")
    assert registry.get("key-a", "cars/0").task_type == "object-detection"


@pytest.mark.parametrize("model_id", ["abc", "p/x", "p/-1", "/1", "p/1/2", "", "p/ 1"])
def test_malformed_model_ids_are_bad_requests_naming_the_id(
    registry: ModelRegistry, model_id: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        registry.get("key-a", model_id)
    assert repr(model_id) in info.value.message
    assert info.value.status == 400


def test_parse_model_id() -> None:
    assert parse_model_id("my-project_2/10") == ("my-project_2", 10)
    with pytest.raises(BadRequestError, match="model_id must be a string"):
        parse_model_id(None)


def test_unknown_project_version_or_key(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="'ghost'"):
        registry.get("key-a", "ghost/0")
    with pytest.raises(NotFoundError, match="cars/9"):
        registry.get("key-a", "cars/9")
    with pytest.raises(UnauthorizedError):
        registry.get("nope", "cars/1")


def test_model_is_downloaded_once_verified_and_served(
    registry: ModelRegistry, source: MemorySource, tmp_path: Path
) -> None:
    model = registry.get("key-a", "cars/1")
    assert isinstance(model, OnnxModel)
    assert (model.model_id, model.task_type, model.class_names) == (
        "cars/1",
        "object-detection",
        ["car", "bus"],
    )
    [prediction] = model.infer([np.zeros((640, 640, 3), np.uint8)], InferenceParams())
    assert isinstance(prediction, DetectionPrediction)
    assert [d.class_name for d in prediction.detections] == ["car"]
    assert registry.get("key-a", "cars/1") is model
    assert source.downloads == 1
    info = source.model_info("key-a", "cars", 1)
    cached = registry.file_path("ws-a", info.sha256)
    assert cached.is_file() and cached.is_relative_to(tmp_path / "models")
    # A fresh registry on the same cache dir loads from disk without downloading.
    again = ModelRegistry(source, cache_dir=tmp_path / "models", max_loaded=2)
    assert again.get("key-a", "cars/1").class_names == ["car", "bus"]
    assert source.downloads == 1
    # A damaged cached file is detected and fetched again.
    cached.write_bytes(b"garbage")
    third = ModelRegistry(source, cache_dir=tmp_path / "models", max_loaded=2)
    third.get("key-a", "cars/1")
    assert source.downloads == 2


def test_download_that_fails_its_sha256_is_refused(
    registry: ModelRegistry, source: MemorySource
) -> None:
    source.corrupt = True
    with pytest.raises(ServiceUnavailableError, match="sha256"):
        registry.get("key-a", "cars/1")
    assert registry.loaded("key-a") == []
    source.corrupt = False
    assert registry.get("key-a", "cars/1").model_id == "cars/1"


def test_lru_keeps_at_most_max_loaded_models(registry: ModelRegistry) -> None:
    registry.get("key-a", "cars/1")
    registry.get("key-a", "cars/2")
    registry.get("key-a", "cars/1")  # cars/2 is now the least recently used
    registry.get("key-a", "boats/1")
    assert sorted(m.model_id for m in registry.loaded("key-a")) == ["boats/1", "cars/1"]


def test_workspaces_never_share_models(registry: ModelRegistry, source: MemorySource) -> None:
    a = registry.get("key-a", "cars/1")
    b = registry.get("key-b", "cars/1")
    assert a is not b
    assert a.class_names == ["car", "bus"]
    assert b.class_names == ["sedan", "truck", "van"]
    assert [m.class_names for m in registry.loaded("key-b")] == [["sedan", "truck", "van"]]
    with pytest.raises(NotFoundError):
        registry.get("key-b", "boats/1")
    registry.clear("key-b")
    assert registry.loaded("key-b") == []
    assert [m.model_id for m in registry.loaded("key-a")] == ["cars/1"]


def test_add_loaded_remove_clear(registry: ModelRegistry) -> None:
    registry.add("key-a", "cars/0")
    registry.add("key-a", "cars/1")
    listed = registry.loaded("key-a")
    assert [(m.model_id, m.task_type, m.input_height) for m in listed] == [
        ("cars/0", "object-detection", None),
        ("cars/1", "object-detection", 640),
    ]
    registry.remove("key-a", "cars/1")
    registry.remove("key-a", "cars/7")  # not loaded: no error
    assert [m.model_id for m in registry.loaded("key-a")] == ["cars/0"]
    with pytest.raises(BadRequestError):
        registry.remove("key-a", "cars")
    registry.clear("key-a")
    assert registry.loaded("key-a") == []


def test_concurrent_gets_load_a_model_once(registry: ModelRegistry, source: MemorySource) -> None:
    source.delay = 0.2
    start = threading.Barrier(8)

    def get(_: int) -> object:
        start.wait()
        return registry.get("key-a", "cars/1")

    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(get, range(8)))
    assert source.downloads == 1
    assert all(m is models[0] for m in models)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_key_workspace_is_cached_briefly_and_stubs_are_revalidated(
    source: MemorySource, tmp_path: Path
) -> None:
    clock = Clock()
    registry = ModelRegistry(
        source, cache_dir=tmp_path, max_loaded=2, key_cache_seconds=5.0, clock=clock
    )
    for _ in range(10):
        registry.get("key-a", "cars/0")
    assert source.key_lookups == 1
    clock.now += 6
    registry.get("key-a", "cars/0")
    assert source.key_lookups == 2
    # A revoked key stops working once its cached workspace expires.
    del source.keys["key-a"]
    registry.get("key-a", "cars/0")
    clock.now += 6
    with pytest.raises(UnauthorizedError):
        registry.get("key-a", "cars/0")
    # A deleted project's stub stops answering after the stub TTL.
    registry.get("key-b", "cars/0")
    del source.projects[("ws-b", "cars")]
    registry.get("key-b", "cars/0")
    clock.now += 61
    with pytest.raises(NotFoundError):
        registry.get("key-b", "cars/0")
    assert registry.loaded("key-b") == []


def test_classifiers_of_multi_label_projects_predict_every_class_over_the_confidence(
    registry: ModelRegistry, source: MemorySource
) -> None:
    source.add_classifier("ws-a", "tags", "multi-label-classification", ("x", "y", "z"))
    source.add_classifier("ws-a", "kinds", "classification", ("x", "y", "z"))
    image = np.zeros((8, 8, 3), np.uint8)
    [multi] = registry.get("key-a", "tags/1").infer([image], InferenceParams(confidence=0.5))
    [single] = registry.get("key-a", "kinds/1").infer([image], InferenceParams(confidence=0.5))
    assert isinstance(multi, ClassificationPrediction) and multi.multi_label
    assert multi.predicted_classes == ["x", "y"]
    assert isinstance(single, ClassificationPrediction) and not single.multi_label
    assert single.predicted_classes == ["x"]

"""Platform clients, config sources and model sources against a real platform."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from tests.apps import platform_app
from tests.factories import (
    AL_CONFIG,
    KEY,
    capped_config,
    make_detections_json,
    make_jpeg,
    new_project,
    set_config,
    workspace_with_key,
)
from tests.live_server import free_port, serve
from winnow.activelearning.datapoint import Datapoint
from winnow.errors import (
    ConfigurationError,
    DeliveryError,
    NotFoundError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from winnow.platform.clients import (
    CachedConfigSource,
    HTTPModelSource,
    InProcessConfigSource,
    InProcessModelSource,
    InProcessPlatformClient,
    NativeHTTPConfigSource,
    NativeHTTPPlatformClient,
    ReferenceHTTPConfigSource,
    ReferenceHTTPPlatformClient,
    build_config_source,
    build_model_source,
    build_platform_client,
)
from winnow.platform.service import DatapointInput, Platform
from winnow.settings import PlatformProtocol, Settings


@pytest.fixture
def base_url(sqlite_platform: Platform) -> Iterator[str]:
    """The platform served over a real socket."""
    with serve(platform_app(sqlite_platform)) as url:
        yield url


def make_datapoint(key: str = "dp-1", seed: int = 0, **changes: Any) -> Datapoint:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "api_key": KEY,
        "project": "cars",
        "batch_name": "al_2026_11_28",
        "image_jpeg": make_jpeg(seed=seed),
        "width": 64,
        "height": 48,
        "prediction": make_detections_json(
            [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
        ),
        "task_type": "object-detection",
        "tags": ("cam:1",),
        "strategy": "rand",
        "model_id": "cars/1",
        "inference_id": "inf-1",
        "source": "gate-3",
        "source_info": "relay-7",
        "config_version": 1,
        "created_at": datetime.now(UTC),
        "extra": {"frame_index": 7, "frame_time": 0.28},
    }
    values.update(changes)
    return Datapoint(**values)


def test_httpx_plays_an_external_reference_inference_server(
    sqlite_platform: Platform, base_url: str
) -> None:
    new_project(sqlite_platform, "cars", workspace=sqlite_platform.workspace(KEY))
    set_config(sqlite_platform, sqlite_platform.workspace(KEY), "cars", AL_CONFIG)
    key = quote_plus(KEY)
    with httpx.Client(base_url=base_url) as http:
        workspace = http.get(f"/?api_key={key}&nocache=true").json()["workspace"]
        project = http.get(f"/{workspace}/cars?api_key={key}").json()["project"]
        assert project["type"] == "object-detection"
        config = http.get(f"/{workspace}/cars/active_learning?api_key={key}").json()
        assert config == AL_CONFIG
        batch = "al_2026_11_28"
        upload = http.post(
            f"/dataset/cars/upload?api_key={key}&batch={quote_plus(batch)}&inference_id=i1&tag=a&tag=b",
            data={"name": "0b9e.jpg"},
            files={"file": ("imageToUpload", make_jpeg(seed=1), "image/jpeg")},
        )
        assert upload.status_code == 200 and upload.json()["success"] is True
        annotate = http.post(
            f"/dataset/cars/annotate/{upload.json()['id']}?api_key={key}&name=0b9e.json&prediction=true",
            content=json.dumps(
                make_detections_json(
                    [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
                )
            ),
            headers={"Content-Type": "text/plain"},
        )
        assert annotate.json() == {"success": True}
        batches = http.get(f"/{workspace}/cars/batches?api_key={key}").json()["batches"]
        assert [(b["name"], b["images"]) for b in batches] == [(batch, 1)]


@pytest.mark.parametrize("kind", ["in-process", "native", "reference"])
def test_platform_clients_deliver_idempotently_with_provenance(
    sqlite_platform: Platform, base_url: str, kind: str
) -> None:
    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "cars", workspace=workspace)
    makers: dict[str, Callable[[], Any]] = {
        "in-process": lambda: InProcessPlatformClient(sqlite_platform),
        "native": lambda: NativeHTTPPlatformClient(base_url),
        "reference": lambda: ReferenceHTTPPlatformClient(base_url),
    }
    client = makers[kind]()
    try:
        image_id = client.deliver(make_datapoint())
        assert client.deliver(make_datapoint()) == image_id
    finally:
        client.close()
    details = sqlite_platform.image_details(workspace, image_id)
    assert details["tags"] == ["cam:1"] and details["batch"] == "al_2026_11_28"
    assert details["inference_id"] == "inf-1"
    [annotation] = details["annotations"]
    assert annotation["kind"] == "prediction" and annotation["body"] == make_detections_json(
        [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
    )
    if kind != "reference":  # the reference wire carries no provenance fields
        assert (details["strategy"], details["model_id"], details["config_version"]) == (
            "rand",
            "cars/1",
            1,
        )
        assert (details["source"], details["source_info"]) == ("gate-3", "relay-7")
        # the stream's frame index and time reach the stored metadata
        assert details["metadata"] == {"frame_index": 7, "frame_time": 0.28}
    else:
        assert details["metadata"] is None
    data, _ = sqlite_platform.image_file(workspace, image_id)
    assert data == make_jpeg(seed=0)


@pytest.mark.parametrize("kind", ["in-process", "native", "reference"])
def test_platform_clients_classify_errors(
    sqlite_platform: Platform, base_url: str, kind: str
) -> None:
    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "cars", workspace=workspace)
    set_config(sqlite_platform, workspace, "cars", capped_config(1))
    makers: dict[str, Callable[[], Any]] = {
        "in-process": lambda: InProcessPlatformClient(sqlite_platform),
        "native": lambda: NativeHTTPPlatformClient(base_url),
        "reference": lambda: ReferenceHTTPPlatformClient(base_url),
    }
    client = makers[kind]()
    try:
        client.deliver(make_datapoint("a", seed=1))
        with pytest.raises(DeliveryError, match="full") as full:
            client.deliver(make_datapoint("b", seed=2))
        assert full.value.retryable is False
        with pytest.raises(DeliveryError) as unknown:
            client.deliver(make_datapoint("c", seed=3, project="boats"))
        assert unknown.value.retryable is False
        with pytest.raises(DeliveryError) as bad_key:
            client.deliver(make_datapoint("d", seed=4, api_key="wrong-key-000"))
        assert bad_key.value.retryable is False
    finally:
        client.close()


@pytest.mark.parametrize("cls", [NativeHTTPPlatformClient, ReferenceHTTPPlatformClient])
def test_unreachable_platform_is_retryable(cls: type[NativeHTTPPlatformClient]) -> None:
    client = cls(f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        with pytest.raises(DeliveryError) as info:
            client.deliver(make_datapoint())
        assert info.value.retryable is True
    finally:
        client.close()


def test_server_errors_are_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        status = 429 if "upload" in request.url.path else 503
        return httpx.Response(status, json={"message": "busy"})

    for cls in (NativeHTTPPlatformClient, ReferenceHTTPPlatformClient):
        client = cls("http://platform", transport=httpx.MockTransport(handler))
        with pytest.raises(DeliveryError, match="busy") as info:
            client.deliver(make_datapoint())
        assert info.value.retryable is True
        client.close()


@pytest.mark.parametrize("kind", ["in-process", "native", "reference"])
def test_config_sources(sqlite_platform: Platform, base_url: str, kind: str) -> None:
    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "cars", workspace=workspace)
    makers: dict[str, Callable[[], Any]] = {
        "in-process": lambda: InProcessConfigSource(sqlite_platform),
        "native": lambda: NativeHTTPConfigSource(base_url),
        "reference": lambda: ReferenceHTTPConfigSource(base_url),
    }
    source = makers[kind]()
    empty = source.get(KEY, "cars")
    assert empty.config.enabled is False and empty.project_type == "object-detection"
    set_config(sqlite_platform, workspace, "cars", AL_CONFIG)
    current = source.get(KEY, "cars")
    again = source.get(KEY, "cars")  # native: revalidated with If-None-Match (304)
    assert current.config.enabled is True and again == current
    assert current.workspace == "default" and current.project == "cars"
    if kind != "reference":
        assert current.version == 1
    with pytest.raises(NotFoundError):
        source.get(KEY, "boats")
    with pytest.raises(UnauthorizedError):
        source.get("wrong-key-000", "cars")
    source.close()


def test_native_config_source_revalidates_with_etag(
    sqlite_platform: Platform, base_url: str
) -> None:
    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "cars", workspace=workspace)
    set_config(sqlite_platform, workspace, "cars", AL_CONFIG)
    statuses: list[int] = []
    transport = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = transport.handle_request(request)
            statuses.append(response.status_code)
            return response

        def close(self) -> None:
            transport.close()

    source = NativeHTTPConfigSource(base_url, transport=Recording())
    first = source.get(KEY, "cars")
    second = source.get(KEY, "cars")
    set_config(sqlite_platform, workspace, "cars", capped_config(4))
    third = source.get(KEY, "cars")
    source.close()
    assert statuses == [200, 304, 200]
    assert first == second and third.version == 2


def test_cached_config_source_is_keyed_by_api_key_and_expires(sqlite_platform: Platform) -> None:
    default = sqlite_platform.workspace(KEY)
    other, other_key = workspace_with_key(sqlite_platform, "other")
    new_project(sqlite_platform, "cars", workspace=default)
    new_project(sqlite_platform, "cars", workspace=other)
    set_config(sqlite_platform, default, "cars", AL_CONFIG)
    now = [0.0]
    cached = CachedConfigSource(InProcessConfigSource(sqlite_platform), 2.0, clock=lambda: now[0])
    assert cached.get(KEY, "cars").config.enabled is True
    # Same project name, other key: never served from the first key's entry.
    assert cached.get(other_key, "cars").config.enabled is False
    assert cached.get(other_key, "cars").workspace == "other"
    set_config(sqlite_platform, default, "cars", dict(AL_CONFIG, enabled=False))
    assert cached.get(KEY, "cars").config.enabled is True  # still fresh
    now[0] = 2.5
    assert cached.get(KEY, "cars").config.enabled is False  # expired, refetched


@pytest.mark.parametrize("kind", ["in-process", "http"])
def test_model_sources(sqlite_platform: Platform, base_url: str, kind: str) -> None:
    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "signs", type="multi-label-classification", workspace=workspace)
    sqlite_platform.add_model(
        workspace=workspace,
        model_id="signs/2",
        data=b"onnx!",
        class_names=["a", "b"],
        metadata={"k": 1},
    )
    source = (
        InProcessModelSource(sqlite_platform) if kind == "in-process" else HTTPModelSource(base_url)
    )
    assert source.workspace_of(KEY) == "default"
    assert source.project_type(KEY, "signs") == "multi-label-classification"
    info = source.model_info(KEY, "signs", 2)
    assert info.model_id == "signs/2" and info.task_type == "classification"
    assert info.class_names == ("a", "b") and info.metadata == {"k": 1} and info.size_bytes == 5
    assert source.model_file(KEY, "signs", 2) == b"onnx!"
    with pytest.raises(NotFoundError, match="signs/3"):
        source.model_info(KEY, "signs", 3)
    with pytest.raises(UnauthorizedError):
        source.workspace_of("wrong-key-000")
    source.close()


def test_http_lookups_of_an_unreachable_platform_are_503() -> None:
    source = HTTPModelSource(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ServiceUnavailableError):
        source.model_info(KEY, "cars", 1)
    source.close()


def test_builders_pick_by_settings(sqlite_platform: Platform, tmp_path: Path) -> None:
    local = Settings(data_dir=tmp_path)
    assert isinstance(build_platform_client(local, sqlite_platform), InProcessPlatformClient)
    native = Settings(data_dir=tmp_path, platform_url="http://p:9001")
    native_client = build_platform_client(native, sqlite_platform)
    assert isinstance(native_client, NativeHTTPPlatformClient)
    native_client.close()
    reference = Settings(
        data_dir=tmp_path,
        platform_url="http://p:9001",
        platform_protocol=PlatformProtocol.REFERENCE,
    )
    reference_client = build_platform_client(reference)
    assert isinstance(reference_client, ReferenceHTTPPlatformClient)
    reference_client.close()
    cached = build_config_source(reference)
    assert isinstance(cached.inner, ReferenceHTTPConfigSource)
    cached.close()
    from winnow.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="WINNOW_PLATFORM_URL"):
        build_platform_client(local)


def test_in_process_config_source_reports_database_trouble_as_503(
    sqlite_platform: Platform,
) -> None:
    new_project(sqlite_platform, "cars", workspace=sqlite_platform.workspace(KEY))
    source = InProcessConfigSource(sqlite_platform)
    with sqlite_platform.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE al_config_version")
    with pytest.raises(ServiceUnavailableError, match="database"):
        source.get(KEY, "cars")


@pytest.mark.parametrize(
    "url", ["http://[::1", "ftp://platform.example", "http://", "http://h:99999"]
)
def test_a_malformed_platform_url_is_a_configuration_error_naming_the_setting(
    tmp_path: Path, url: str
) -> None:
    # These once surfaced as httpx.InvalidURL at start, or as a 503 on every request.
    settings = Settings(data_dir=tmp_path, role="inference", platform_url=url)
    for build in (build_platform_client, build_config_source, build_model_source):
        with pytest.raises(ConfigurationError, match="WINNOW_PLATFORM_URL"):
            build(settings)


def test_api_base_url_speaks_native_to_a_winnow_platform_and_reference_otherwise(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI

    monkeypatch.setenv("API_BASE_URL", base_url)
    winnow = Settings(data_dir=tmp_path, role="inference")
    assert winnow.platform_url == base_url and winnow.detects_platform_protocol
    client = build_platform_client(winnow)
    assert isinstance(client, NativeHTTPPlatformClient)
    client.close()

    other = FastAPI()  # answers 404 to /v1/al-config/schema, like the reference platform

    with serve(other) as url:
        monkeypatch.setenv("API_BASE_URL", url)
        reference = Settings(data_dir=tmp_path, role="inference")
        client = build_platform_client(reference)
        assert isinstance(client, ReferenceHTTPPlatformClient)
        client.close()
        cached = build_config_source(reference)
        assert isinstance(cached.inner, ReferenceHTTPConfigSource)
        cached.close()

    # an explicit protocol is never second-guessed; an explicit URL wins over API_BASE_URL
    monkeypatch.setenv("API_BASE_URL", base_url)
    chosen = Settings(data_dir=tmp_path, role="inference", platform_protocol="reference")
    assert not chosen.detects_platform_protocol
    assert isinstance(build_platform_client(chosen), ReferenceHTTPPlatformClient)
    explicit = Settings(data_dir=tmp_path, role="inference", platform_url="http://p:9001")
    assert explicit.platform_url == "http://p:9001" and not explicit.detects_platform_protocol
    # role all runs the platform in this process: API_BASE_URL does not send it elsewhere
    assert Settings(data_dir=tmp_path).platform_url is None


@pytest.mark.parametrize("kind", ["in-process", "native", "reference"])
def test_batch_counters_report_what_a_batch_holds(
    sqlite_platform: Platform, base_url: str, kind: str
) -> None:
    from winnow.platform.clients import (
        InProcessBatchCounter,
        NativeHTTPBatchCounter,
        ReferenceHTTPBatchCounter,
    )

    workspace = sqlite_platform.workspace(KEY)
    new_project(sqlite_platform, "cars")
    for seed in range(3):
        sqlite_platform.register(
            workspace=workspace,
            project="cars",
            data=make_jpeg(seed=seed),
            datapoint=DatapointInput(batch_name="my batch/1"),
        )
    counter: Any
    if kind == "in-process":
        counter = InProcessBatchCounter(sqlite_platform)
    elif kind == "native":
        counter = NativeHTTPBatchCounter(base_url)
    else:
        counter = ReferenceHTTPBatchCounter(base_url)
    try:
        assert counter.batch_images(KEY, "cars", "my batch/1") == 3
        assert counter.batch_images(KEY, "cars", "not yet") == 0
        with pytest.raises(NotFoundError):
            counter.batch_images(KEY, "nope", "my batch/1")
    finally:
        counter.close()


def test_reference_batch_counter_adds_job_images_as_the_reference_does() -> None:
    from winnow.platform.clients import ReferenceHTTPBatchCounter

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/":
            return httpx.Response(200, json={"workspace": "ws"})
        if path == "/ws/cars/batches":
            batches = [
                {"name": "al", "id": "b1", "images": 4, "numJobs": 1},
                {"name": "other", "id": "b2", "images": 9, "numJobs": 0},
            ]
            return httpx.Response(200, json={"batches": batches})
        if path == "/ws/cars/jobs":
            jobs = [
                {"sourceBatch": "ws/b1", "numImages": 3},
                {"sourceBatch": "ws/b2", "numImages": 7},
            ]
            return httpx.Response(200, json={"jobs": jobs})
        return httpx.Response(404, json={"message": "not found"})

    counter = ReferenceHTTPBatchCounter("http://ref.test", transport=httpx.MockTransport(handler))
    assert counter.batch_images("k", "cars", "al") == 7
    assert counter.batch_images("k", "cars", "other") == 9
    assert counter.batch_images("k", "cars", "new") == 0
    counter.close()

"""Batched delivery: Platform.register_many, the native batch route and the clients' deliver_many.

One transaction (in-process) or one request (native) for many datapoints, each one
idempotent by its key as a single delivery is, and one refused datapoint refusing
only itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps import platform_app
from tests.factories import KEY, capped_config, make_detections_json, make_jpeg, new_project
from tests.factories import set_config as save_config
from tests.live_server import serve
from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.errors import DeliveryError
from winnow.metrics import Metrics
from winnow.platform.clients import InProcessPlatformClient, NativeHTTPPlatformClient
from winnow.platform.service import Platform


@pytest.fixture
def base_url(sqlite_platform: Platform) -> Iterator[str]:
    with serve(platform_app(sqlite_platform)) as url:
        yield url


def datapoint(i: int, **changes: Any) -> Datapoint:
    values: dict[str, Any] = {
        "idempotency_key": f"key-{i}",
        "api_key": KEY,
        "project": "cars",
        "batch_name": "al_2026_12_02",
        "image_jpeg": make_jpeg(seed=i),
        "width": 64,
        "height": 48,
        "prediction": make_detections_json([[10.0, 12.0, 8.0, 6.0]], class_name=["car"]),
        "task_type": "object-detection",
        "tags": ("cam:1",),
        "strategy": "rand",
        "model_id": "cars/1",
        "source": "http",
        "created_at": datetime.now(UTC),
    }
    values.update(changes)
    return Datapoint(**values)


def images(platform: Platform) -> list[dict[str, Any]]:
    from winnow.platform import store

    workspace = platform.workspace(KEY)
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=workspace, name="cars")
        page, _cursor = store.list_images(
            session=session, project=project, filters=store.ImageFilters(), limit=1000, cursor=None
        )
        return [{"id": str(i.id), "key": i.idempotency_key, "sha": i.sha256} for i in page]


def client_of(kind: str, platform: Platform, base_url: str) -> Any:
    if kind == "in-process":
        return InProcessPlatformClient(platform)
    return NativeHTTPPlatformClient(base_url)


@pytest.mark.parametrize("kind", ["in-process", "native"])
def test_deliver_many_stores_each_once_and_a_replay_returns_the_same_ids(
    sqlite_platform: Platform, base_url: str, kind: str
) -> None:
    new_project(sqlite_platform, "cars")
    client = client_of(kind, sqlite_platform, base_url)
    batch = [datapoint(i) for i in range(10)]
    first = client.deliver_many(batch)
    assert all(isinstance(r, str) for r in first), first
    # Delivered again (the answer was lost, the batch is retried): the same ids, nothing new.
    again = client.deliver_many(batch)
    assert again == first
    assert not any(getattr(r, "duplicate", False) for r in again)
    # A retry of part of the batch mixed with new datapoints.
    mixed = client.deliver_many([batch[3], datapoint(10), batch[7]])
    assert [mixed[0], mixed[2]] == [first[3], first[7]] and mixed[1] not in first
    stored = images(sqlite_platform)
    assert sorted(s["key"] for s in stored) == sorted(f"key-{i}" for i in range(11))
    client.close()


@pytest.mark.parametrize("kind", ["in-process", "native"])
def test_one_refused_datapoint_refuses_only_itself(
    sqlite_platform: Platform, base_url: str, kind: str
) -> None:
    new_project(sqlite_platform, "cars")
    client = client_of(kind, sqlite_platform, base_url)
    batch = [
        datapoint(0),
        datapoint(1, tags=("bad tag with spaces",)),
        datapoint(2, project="nowhere"),
        datapoint(3, image_jpeg=make_jpeg(seed=0), idempotency_key="same-bytes"),
        datapoint(4),
    ]
    results = client.deliver_many(batch)
    assert isinstance(results[0], str) and isinstance(results[4], str)
    assert isinstance(results[1], DeliveryError) and not results[1].retryable
    assert "tag" in results[1].message
    assert isinstance(results[2], DeliveryError) and not results[2].retryable
    # The same bytes as datapoint 0 within the batch: an exact duplicate, as across batches.
    assert results[3] == results[0] and getattr(results[3], "duplicate", False)
    assert sorted(s["key"] for s in images(sqlite_platform)) == ["key-0", "key-4"]
    client.close()


@pytest.mark.parametrize("kind", ["in-process", "native"])
def test_a_full_batch_refuses_the_datapoints_past_its_cap(
    sqlite_platform: Platform, base_url: str, kind: str
) -> None:
    new_project(sqlite_platform, "cars")
    save_config(sqlite_platform, sqlite_platform.workspace(KEY), "cars", capped_config(3))
    client = client_of(kind, sqlite_platform, base_url)
    results = client.deliver_many([datapoint(i) for i in range(5)])
    assert [isinstance(r, str) for r in results] == [True, True, True, False, False]
    assert all(isinstance(r, DeliveryError) and r.batch_full for r in results[3:])
    client.close()


class LosesAnswers:
    """Registers the batch on the platform, then fails as if the answer was lost (once)."""

    def __init__(self, inner: InProcessPlatformClient) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def deliver(self, dp: Datapoint) -> str:
        raise AssertionError("batches go through deliver_many")

    def deliver_many(self, datapoints: Sequence[Datapoint]) -> list[str | DeliveryError]:
        self.calls.append(len(datapoints))
        results = self.inner.deliver_many(datapoints)
        if len(self.calls) == 1:
            raise httpx.ReadTimeout("the answer never came")
        return results

    def close(self) -> None:
        pass


def test_a_batch_whose_answer_was_lost_is_retried_and_stored_once(
    sqlite_platform: Platform, tmp_path: Path
) -> None:
    new_project(sqlite_platform, "cars")
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=10**8)
    for i in range(12):
        outbox.put(datapoint(i))
    client = LosesAnswers(InProcessPlatformClient(sqlite_platform))
    sleeps: list[float] = []
    worker = DeliveryWorker(
        outbox,
        client,
        metrics=Metrics(),
        concurrency=1,
        batch_size=8,
        backoff_base=0.01,
        backoff_max=0.01,
        sleep=sleeps.append,
    )
    worker.run(burst=True, horizon=5.0)
    assert outbox.stats().counts[EntryStatus.DELIVERED] == 12
    assert client.calls[0] == 8 and sum(client.calls[1:]) == 12  # the lost batch went again
    stored = images(sqlite_platform)
    assert sorted(s["key"] for s in stored) == sorted(f"key-{i}" for i in range(12))
    outbox.close()


def test_native_client_falls_back_to_one_request_each_on_an_older_platform(
    sqlite_platform: Platform, base_url: str
) -> None:
    new_project(sqlite_platform, "cars")
    paths: list[str] = []
    forward = httpx.HTTPTransport()

    class OlderPlatform(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            paths.append(request.url.path)
            if request.url.path.endswith("/datapoints/batch"):
                return httpx.Response(404, json={"message": "Not Found"})
            return forward.handle_request(request)

    client = NativeHTTPPlatformClient(base_url, transport=OlderPlatform())
    results = client.deliver_many([datapoint(i) for i in range(3)])
    assert all(isinstance(r, str) for r in results)
    client.deliver_many([datapoint(i) for i in range(3, 5)])
    # One batch attempt, then one request per datapoint, and never the batch route again.
    assert paths.count("/v1/projects/cars/datapoints/batch") == 1
    assert paths.count("/v1/projects/cars/datapoints") == 5
    assert len(images(sqlite_platform)) == 5
    client.close()
    forward.close()


def test_an_unknown_project_does_not_switch_the_batch_route_off(
    sqlite_platform: Platform, base_url: str
) -> None:
    new_project(sqlite_platform, "cars")
    paths: list[str] = []
    forward = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            paths.append(request.url.path)
            return forward.handle_request(request)

    client = NativeHTTPPlatformClient(base_url, transport=Recording())
    [refused, _other] = client.deliver_many([datapoint(0, project="nowhere"), datapoint(1)])
    assert isinstance(refused, DeliveryError) and "nowhere" in refused.message
    client.deliver_many([datapoint(2), datapoint(3)])
    assert paths == [
        "/v1/projects/nowhere/datapoints/batch",
        "/v1/projects/cars/datapoints/batch",
        "/v1/projects/cars/datapoints/batch",
    ]
    client.close()
    forward.close()


def test_batch_route_names_what_is_wrong(sqlite_platform: Platform, base_url: str) -> None:
    new_project(sqlite_platform, "cars")
    auth = {"Authorization": f"Bearer {KEY}"}
    url = f"{base_url}/v1/projects/cars/datapoints/batch"
    jpeg = {"file0": ("a.jpg", make_jpeg(), "image/jpeg")}
    cases = [
        ({"datapoints": "[]"}, jpeg, "datapoints: must be a non-empty JSON list"),
        ({"datapoints": '[{"metadata": 3}]'}, jpeg, "datapoints[0].metadata: required"),
        ({"datapoints": '[{"metadata": {}}]'}, jpeg, "datapoints[0].metadata.batch: required"),
        (
            {"datapoints": '[{"metadata": {"batch": "b"}}, {"metadata": {"batch": "b"}}]'},
            jpeg,
            "file1",
        ),
    ]
    for data, files, message in cases:
        response = httpx.post(url, headers=auth, data=data, files=files)
        assert response.status_code == 400, response.text
        assert message in response.json()["message"]
    assert images(sqlite_platform) == []


def test_register_many_keeps_provenance_like_register(sqlite_platform: Platform) -> None:
    new_project(sqlite_platform, "cars")
    client = InProcessPlatformClient(sqlite_platform)
    [image_id] = client.deliver_many([replace(datapoint(0), inference_id="inf-9")])
    details = sqlite_platform.image_details(sqlite_platform.workspace(KEY), str(image_id))
    assert (details["strategy"], details["model_id"], details["inference_id"]) == (
        "rand",
        "cars/1",
        "inf-9",
    )
    assert details["tags"] == ["cam:1"] and details["batch"] == "al_2026_12_02"
    [annotation] = details["annotations"]
    assert annotation["kind"] == "prediction"


def test_when_the_batch_path_fails_each_datapoint_registers_alone(
    sqlite_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import IntegrityError

    from winnow.platform import store

    def raced(**_kwargs: Any) -> Any:  # the same bytes raced in from elsewhere (PostgreSQL)
        raise IntegrityError("INSERT", {}, Exception("unique constraint"))

    monkeypatch.setattr(store, "register_datapoints", raced)
    new_project(sqlite_platform, "cars")
    save_config(sqlite_platform, sqlite_platform.workspace(KEY), "cars", capped_config(4))
    client = InProcessPlatformClient(sqlite_platform)
    batch = [datapoint(i) for i in range(5)]
    first = client.deliver_many(batch)
    assert [isinstance(r, str) for r in first] == [True, True, True, True, False]
    assert isinstance(first[4], DeliveryError) and first[4].batch_full
    assert client.deliver_many(batch[:4]) == first[:4]  # replayed by key, one at a time
    assert sorted(s["key"] for s in images(sqlite_platform)) == [f"key-{i}" for i in range(4)]

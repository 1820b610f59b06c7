"""Stale-while-error lookups: last known answers while the platform is down, one retry, bounds."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from tests.live_server import free_port
from tests.models.sources import MemorySource
from winnow.errors import ServiceUnavailableError, UnauthorizedError
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry
from winnow.models.source import ModelInfo
from winnow.platform.clients.http import get_json
from winnow.platform.clients.models import HTTPModelSource
from winnow.stale import FailureLog, PlatformHealth, StaleCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakySource:
    """One key, one project; ``down`` makes every lookup a 503, ``gate`` can hold them."""

    def __init__(self) -> None:
        self.down = False
        self.keys = {"key-a": "ws-a"}
        self.lookups = 0
        self.gate: threading.Event | None = None

    def workspace_of(self, api_key: str) -> str:
        self.lookups += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            raise ServiceUnavailableError("workspace of the API key: platform unreachable (x)")
        if api_key not in self.keys:
            raise UnauthorizedError("unknown key")
        return self.keys[api_key]

    def project_type(self, api_key: str, project: str) -> str:
        if self.down:
            raise ServiceUnavailableError(f"project {project!r}: platform unreachable (x)")
        return "object-detection"

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        raise NotImplementedError

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        raise NotImplementedError


def _registry(tmp_path: Path, source: FlakySource, clock: Clock, **kwargs: object) -> ModelRegistry:
    return ModelRegistry(
        source,
        cache_dir=tmp_path,
        max_loaded=1,
        key_cache_seconds=5.0,
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_known_key_is_served_through_an_outage_of_any_length_and_recovers(
    tmp_path: Path,
) -> None:
    source, clock, metrics = FlakySource(), Clock(), Metrics()
    failures = FailureLog(
        errors=metrics.platform_lookup_errors, stale=metrics.platform_stale_answers, clock=clock
    )
    health = PlatformHealth(clock)
    registry = _registry(tmp_path, source, clock, health=health, failures=failures)
    assert registry.get("key-a", "cars/0").task_type == "object-detection"
    source.down = True
    clock.now += 3600 * 24 * 30  # a month-long outage
    assert registry.get("key-a", "cars/0").task_type == "object-detection"
    assert health.down
    text = metrics.render().decode()
    assert 'winnow_platform_lookup_errors_total{lookup="api_key"} 1.0' in text
    assert 'winnow_platform_stale_answers_total{lookup="api_key"} 1.0' in text
    # An unknown key gets a 503 that says the platform is unreachable.
    with pytest.raises(ServiceUnavailableError, match="platform unreachable"):
        registry.get("key-new", "cars/0")
    # Recovery: the platform answers again and a revoked key stops working.
    source.down = False
    del source.keys["key-a"]
    clock.now += 6
    deadline = time.monotonic() + 5
    while health.down and time.monotonic() < deadline:
        # While down, expired entries are refreshed in the background.
        try:
            registry.get("key-a", "cars/0")
        except UnauthorizedError:
            break
        time.sleep(0.02)
    assert not health.down
    with pytest.raises(UnauthorizedError):
        registry.get("key-a", "cars/0")


def test_stale_answers_are_bounded_when_a_bound_is_set(tmp_path: Path) -> None:
    source, clock = FlakySource(), Clock()
    registry = _registry(tmp_path, source, clock, key_stale_seconds=60.0)
    registry.get("key-a", "cars/0")
    source.down = True
    clock.now += 30
    registry.get("key-a", "cars/0")
    clock.now += 31  # 61 s since the platform last confirmed the key
    with pytest.raises(ServiceUnavailableError, match="platform unreachable"):
        registry.get("key-a", "cars/0")


def test_while_the_platform_is_down_nobody_waits_on_a_lookup(tmp_path: Path) -> None:
    """A frozen platform: once one lookup failed, expired answers are served without asking."""
    source, clock = FlakySource(), Clock()
    cache: StaleCache[str, str] = StaleCache(
        "api_key", ttl=5.0, stale_seconds=None, clock=clock, retry_seconds=1.0
    )
    assert cache.get("key-a", lambda: source.workspace_of("key-a")) == "ws-a"
    source.down = True
    clock.now += 6
    assert cache.get("key-a", lambda: source.workspace_of("key-a")) == "ws-a"  # the one wait
    assert cache.health.down
    source.gate = threading.Event()  # lookups now hang until released
    clock.now += 2
    started = time.monotonic()
    answers = [cache.get("key-a", lambda: source.workspace_of("key-a")) for _ in range(50)]
    elapsed = time.monotonic() - started
    source.gate.set()
    assert answers == ["ws-a"] * 50
    assert elapsed < 1.0, f"requests waited {elapsed:.2f} s on a hanging platform"
    deadline = time.monotonic() + 5
    while source.lookups < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # the background refresh runs on the cache's worker thread
    time.sleep(0.1)
    assert source.lookups == 3  # first, the failed refresh, one background refresh


def test_repeated_failures_are_logged_once_per_interval_and_all_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, metrics = Clock(), Metrics()
    failures = FailureLog(interval=60.0, errors=metrics.platform_lookup_errors, clock=clock)
    with caplog.at_level(logging.WARNING, logger="winnow.platform.lookups"):
        for _ in range(100):
            failures.failed("api_key", ServiceUnavailableError("platform unreachable"))
            clock.now += 0.5  # 50 s in all
        clock.now += 11
        failures.failed("api_key", ServiceUnavailableError("platform unreachable"))
    lines = [r for r in caplog.records if "api_key" in r.getMessage()]
    assert len(lines) == 2
    assert "99 more" in lines[1].getMessage()
    assert (
        'winnow_platform_lookup_errors_total{lookup="api_key"} 101.0' in metrics.render().decode()
    )


@pytest.fixture
def closing_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server that drops the first connection after reading a request, then answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    accepted: list[int] = []
    body = b'{"workspace": "ws-a"}'
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )

    def serve() -> None:
        for n in range(2):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(n)
            with conn:
                conn.recv(65536)
                if n == 1:
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", accepted
    listener.close()
    thread.join(5)


def test_a_reset_connection_is_retried_once(closing_server: tuple[str, list[int]]) -> None:
    url, accepted = closing_server
    with httpx.Client(base_url=url, timeout=2) as client:
        assert get_json(client, "/", "workspace") == {"workspace": "ws-a"}
    assert accepted == [0, 1]


def test_an_unreachable_or_frozen_platform_is_a_quick_503_naming_it() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    source = HTTPModelSource(closed, timeout=httpx.Timeout(0.5, connect=0.5))
    with pytest.raises(ServiceUnavailableError, match="platform unreachable"):
        source.workspace_of("key-a")
    source.close()
    # Frozen: the kernel accepts the connection but nobody answers.
    listener = socket.create_server(("127.0.0.1", 0))
    frozen = f"http://127.0.0.1:{listener.getsockname()[1]}"
    source = HTTPModelSource(frozen, timeout=httpx.Timeout(0.5, connect=0.5))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError, match="platform unreachable"):
        source.workspace_of("key-a")
    assert time.monotonic() - started < 2.0
    source.close()
    listener.close()


def test_collection_keeps_its_configuration_while_the_platform_is_down() -> None:
    from winnow.activelearning.config import validate_config
    from winnow.activelearning.platform_client import ProjectConfig
    from winnow.errors import NotFoundError
    from winnow.platform.clients.config import CachedConfigSource

    config = ProjectConfig(
        workspace="ws-a",
        project="cars",
        project_type="object-detection",
        config=validate_config({"enabled": False}),
        version=3,
    )
    state: dict[str, Exception | None] = {"error": None}

    class Inner:
        def get(self, api_key: str, project: str) -> ProjectConfig:
            if state["error"] is not None:
                raise state["error"]
            return config

    clock = Clock()
    cached = CachedConfigSource(Inner(), 2.0, clock=clock, stale_seconds=3600.0)
    assert cached.get("key-a", "cars") is config
    state["error"] = ServiceUnavailableError("configuration: platform unreachable (x)")
    clock.now += 1800
    assert cached.get("key-a", "cars") is config
    clock.now += 1801  # past the bound
    with pytest.raises(ServiceUnavailableError):
        cached.get("key-a", "cars")
    # A definitive answer is never covered by a stale one.
    state["error"] = None
    assert cached.get("key-a", "cars") is config
    state["error"] = NotFoundError("project 'cars' not found")
    clock.now += 3
    with pytest.raises(NotFoundError):
        cached.get("key-a", "cars")


def test_a_caller_with_an_earlier_answer_waits_at_most_the_refresh_wait() -> None:
    """The platform freezes between two lookups: the next one is not held by its timeouts."""
    source, clock = FlakySource(), Clock()
    cache: StaleCache[str, str] = StaleCache(
        "api_key", ttl=5.0, stale_seconds=None, clock=clock, refresh_wait=0.2
    )
    assert cache.get("key-a", lambda: source.workspace_of("key-a")) == "ws-a"
    source.gate = threading.Event()  # frozen: the lookup hangs
    clock.now += 6
    started = time.monotonic()
    assert cache.get("key-a", lambda: source.workspace_of("key-a")) == "ws-a"
    waited = time.monotonic() - started
    assert 0.15 <= waited < 1.0, waited
    source.keys["key-a"] = "ws-renamed"
    source.gate.set()  # the platform answers: the refresh completes in the background
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if cache.get("key-a", lambda: source.workspace_of("key-a")) == "ws-renamed":
            break
        time.sleep(0.02)
    assert cache.get("key-a", lambda: source.workspace_of("key-a")) == "ws-renamed"
    cache.close()


def test_a_model_evicted_during_an_outage_reloads_from_the_file_cache(tmp_path: Path) -> None:
    source = MemorySource()
    source.add("ws-a", "cars", 1, ("car",))
    source.add("ws-a", "cars", 2, ("car",))
    registry = ModelRegistry(source, cache_dir=tmp_path, max_loaded=1)
    first = registry.get("key-a", "cars/1")
    registry.get("key-a", "cars/2")  # evicts cars/1 (max_loaded=1)

    def down(*_args: object) -> NoReturn:
        raise ServiceUnavailableError("platform unreachable (x)")

    source.model_info = down  # type: ignore[method-assign,assignment]
    source.model_file = down  # type: ignore[method-assign,assignment]
    again = registry.get("key-a", "cars/1")
    assert again is not first and again.model_id == "cars/1"

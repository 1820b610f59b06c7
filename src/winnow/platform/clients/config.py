"""Config sources: where an inference node reads a project's active learning configuration.

``InProcessConfigSource`` (same process), ``NativeHTTPConfigSource``
(``GET /v1/projects/{p}/al-config`` with ETag revalidation),
``ReferenceHTTPConfigSource`` (the reference's three calls) and
``CachedConfigSource`` in front of any of them, keyed by (api key, project)
so one tenant's key never sees another's cached configuration, and serving
the last configuration the platform gave while it cannot be reached
(:class:`~winnow.stale.StaleCache`), so collection goes on into the outbox
through an outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from winnow.activelearning.config import validate_config
from winnow.activelearning.platform_client import ConfigSource, ProjectConfig
from winnow.errors import ServiceUnavailableError
from winnow.platform.clients.http import HTTPClientBase, get, get_json, lookup_error, query, segment
from winnow.stale import FailureLog, PlatformHealth, StaleCache

if TYPE_CHECKING:
    from winnow.platform.service import Platform

CONFIG_TIMEOUT = 10.0


class InProcessConfigSource:
    """Reads the configuration in force from a Platform of the same process."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def get(self, api_key: str, project: str) -> ProjectConfig:
        """The configuration of ``project`` as seen by ``api_key``.

        Database trouble is reported as ServiceUnavailableError, like a platform
        that cannot be reached over HTTP.
        """
        try:
            return self._get(api_key, project)
        except SQLAlchemyError as exc:
            raise ServiceUnavailableError(f"configuration: database error ({exc})") from None

    def _get(self, api_key: str, project: str) -> ProjectConfig:
        from winnow.platform import store

        workspace = self.platform.workspace(api_key)
        with self.platform.db.read() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            record = store.get_al_config(session=session, project=target)
        raw = record.config if record is not None else {"enabled": False}
        return ProjectConfig(
            workspace=workspace.name,
            project=target.name,
            project_type=target.type,
            config=validate_config(raw),
            version=record.version if record is not None else None,
        )

    def close(self) -> None:
        """Nothing to release (the Platform is closed by its owner)."""


class NativeHTTPConfigSource(HTTPClientBase):
    """Reads ``/v1/projects/{project}/al-config``; revalidates with If-None-Match."""

    TIMEOUT = CONFIG_TIMEOUT

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, timeout=timeout, transport=transport)
        self._seen: dict[tuple[str, str], tuple[str, ProjectConfig]] = {}
        self._lock = threading.Lock()

    def get(self, api_key: str, project: str) -> ProjectConfig:
        """The configuration; a 304 answer reuses the copy seen with that ETag."""
        headers = {"Authorization": f"Bearer {api_key}"}
        with self._lock:
            seen = self._seen.get((api_key, project))
        if seen is not None:
            headers["If-None-Match"] = seen[0]
        response = get(
            self.client,
            f"/v1/projects/{segment(project)}/al-config",
            "configuration",
            headers=headers,
        )
        if response.status_code == 304 and seen is not None:
            return seen[1]
        if response.status_code >= 400:
            raise lookup_error(response, f"configuration of {project!r}")
        body = response.json()
        result = ProjectConfig(
            workspace=body["workspace"],
            project=body["project"],
            project_type=body["project_type"],
            config=validate_config(body["config"]),
            version=body.get("version"),
        )
        etag = response.headers.get("etag")
        if etag:
            with self._lock:
                self._seen[(api_key, project)] = (etag, result)
        return result


class ReferenceHTTPConfigSource(HTTPClientBase):
    """Reads the configuration the reference way: workspace, project type, then the config."""

    TIMEOUT = CONFIG_TIMEOUT

    def get(self, api_key: str, project: str) -> ProjectConfig:
        """Three GETs: ``/``, ``/{ws}/{project}``, ``/{ws}/{project}/active_learning``."""
        key = query([("api_key", api_key)])
        workspace = str(get_json(self.client, f"/?{key}", "workspace of the API key")["workspace"])
        base = f"/{segment(workspace)}/{segment(project)}"
        info: Any = get_json(self.client, f"{base}?{key}", f"project {project!r}")
        config: Any = get_json(self.client, f"{base}/active_learning?{key}", "configuration")
        return ProjectConfig(
            workspace=workspace,
            project=project,
            project_type=str(info["project"]["type"]),
            # As tolerant as the reference: an unknown strategy type is skipped, not fatal.
            config=validate_config(config, reference=True),
            version=None,
        )


class CachedConfigSource:
    """Caches another source's answers for ``ttl_seconds`` per (api key, project).

    Errors are not cached: the next call asks again. While the inner source
    is unavailable (``ServiceUnavailableError``), the last answer is served
    for up to ``stale_seconds`` after it was given (``None``: no bound), and
    refreshed in the background (see :class:`~winnow.stale.StaleCache`).
    """

    def __init__(
        self,
        inner: ConfigSource,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        stale_seconds: float | None = None,
        health: PlatformHealth | None = None,
        failures: FailureLog | None = None,
        retry_seconds: float = 1.0,
        refresh_wait: float = 0.2,
    ) -> None:
        self.inner = inner
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._cache: StaleCache[tuple[str, str], ProjectConfig] = StaleCache(
            "configuration",
            ttl=ttl_seconds,
            stale_seconds=stale_seconds,
            health=health,
            failures=failures,
            retry_seconds=retry_seconds,
            refresh_wait=refresh_wait,
            # Read through the attribute, so a clock set later (tests move it) is the one used.
            clock=lambda: self.clock(),
        )

    def get(self, api_key: str, project: str) -> ProjectConfig:
        """The cached configuration while fresh, else the inner source's (or the stale) answer."""
        return self._cache.get((api_key, project), lambda: self.inner.get(api_key, project))

    def fresh(self, api_key: str, project: str) -> ProjectConfig | None:
        """The cached configuration while fresh, else None; never loads, never waits."""
        return self._cache.fresh((api_key, project))

    def close(self) -> None:
        """Stop background refreshes; close the inner source when it has connections."""
        self._cache.close()
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def invalidate(self) -> None:
        """Forget every cached entry."""
        self._cache.clear()

"""Clients an inference node uses to reach a platform (in-process or over HTTP).

    PlatformClient:  InProcessPlatformClient, NativeHTTPPlatformClient, ReferenceHTTPPlatformClient
    ConfigSource:    InProcessConfigSource, NativeHTTPConfigSource, ReferenceHTTPConfigSource,
                     CachedConfigSource (per api key and project)
    ModelSource:     InProcessModelSource, HTTPModelSource
    SegmentSink:     InProcessSegmentSink, NativeHTTPSegmentSink (prediction-log segments)

``build_platform_client``, ``build_config_source`` and ``build_model_source``
pick one from the settings: in-process when a Platform is given and no
``platform_url`` is set, HTTP otherwise (``platform_protocol`` native or reference;
when the URL came from the reference's ``API_BASE_URL`` and no protocol was chosen,
reference unless the platform answers as winnow, see :func:`platform_protocol`).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import httpx

from winnow.activelearning.platform_client import BatchCounter, ConfigSource, PlatformClient
from winnow.errors import ConfigurationError
from winnow.models.source import ModelSource
from winnow.platform.clients.batches import (
    InProcessBatchCounter,
    NativeHTTPBatchCounter,
    ReferenceHTTPBatchCounter,
)
from winnow.platform.clients.config import (
    CachedConfigSource,
    InProcessConfigSource,
    NativeHTTPConfigSource,
    ReferenceHTTPConfigSource,
)
from winnow.platform.clients.delivery import (
    InProcessPlatformClient,
    NativeHTTPPlatformClient,
    ReferenceHTTPPlatformClient,
)
from winnow.platform.clients.models import HTTPModelSource, InProcessModelSource
from winnow.platform.clients.predlog import InProcessSegmentSink, NativeHTTPSegmentSink
from winnow.platform.clients.shadow import InProcessShadowCountSink, NativeHTTPShadowCountSink
from winnow.predlog.shipping import SegmentSink
from winnow.settings import PlatformProtocol, Settings
from winnow.stale import FailureLog, PlatformHealth

if TYPE_CHECKING:
    from winnow.platform.service import Platform

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 5.0

__all__ = [
    "CachedConfigSource",
    "HTTPModelSource",
    "InProcessBatchCounter",
    "InProcessConfigSource",
    "InProcessModelSource",
    "InProcessPlatformClient",
    "InProcessSegmentSink",
    "NativeHTTPBatchCounter",
    "NativeHTTPConfigSource",
    "NativeHTTPPlatformClient",
    "NativeHTTPSegmentSink",
    "ReferenceHTTPBatchCounter",
    "ReferenceHTTPConfigSource",
    "ReferenceHTTPPlatformClient",
    "build_batch_counter",
    "build_config_source",
    "build_model_source",
    "build_platform_client",
    "build_segment_sink",
    "platform_protocol",
]


def platform_protocol(settings: Settings) -> PlatformProtocol:
    """The protocol to speak to the remote platform.

    ``platform_protocol`` as set; but when the URL came from ``API_BASE_URL``
    and no protocol was chosen, the reference's, unless the platform answers
    ``GET /v1/al-config/schema`` as a winnow platform (asked once per URL).
    A platform that cannot be reached then is spoken to the reference way,
    which winnow's platform speaks too.
    """
    if not settings.detects_platform_protocol:
        return settings.platform_protocol
    return _probe(_platform_url(settings))


@functools.lru_cache(maxsize=16)
def _probe(url: str) -> PlatformProtocol:
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/al-config/schema", timeout=PROBE_TIMEOUT)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        body = None
    winnow = isinstance(body, dict) and body.get("title") == "winnow active learning configuration"
    protocol = PlatformProtocol.NATIVE if winnow else PlatformProtocol.REFERENCE
    log.info("API_BASE_URL %s: speaking the %s platform protocol", url, protocol.value)
    return protocol


def _no_platform() -> ConfigurationError:
    return ConfigurationError(
        "no platform: set WINNOW_PLATFORM_URL, or run the platform role in this process"
    )


def _platform_url(settings: Settings) -> str:
    """``platform_url`` checked once at start: http(s), a host, a valid port."""
    url = str(settings.platform_url)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"WINNOW_PLATFORM_URL {url!r} is malformed: {exc}") from None
    port_ok = parsed.port is None or 0 < parsed.port < 65536
    if parsed.scheme not in ("http", "https") or not parsed.host or not port_ok:
        raise ConfigurationError(
            f"WINNOW_PLATFORM_URL {url!r} must be an http:// or https:// URL with a host "
            "(and a port of 1-65535)"
        )
    return url


def build_platform_client(settings: Settings, platform: Platform | None = None) -> PlatformClient:
    """The delivery client the settings call for."""
    if settings.platform_url is None:
        if platform is None:
            raise _no_platform()
        return InProcessPlatformClient(platform)
    if platform_protocol(settings) == PlatformProtocol.REFERENCE:
        return ReferenceHTTPPlatformClient(_platform_url(settings))
    return NativeHTTPPlatformClient(_platform_url(settings))


def lookup_timeout(settings: Settings) -> httpx.Timeout:
    """The short connect/read timeouts of a node's platform lookups."""
    return httpx.Timeout(settings.platform_read_timeout, connect=settings.platform_connect_timeout)


def build_config_source(
    settings: Settings,
    platform: Platform | None = None,
    *,
    health: PlatformHealth | None = None,
    failures: FailureLog | None = None,
) -> CachedConfigSource:
    """The configuration source the settings call for, cached ``config_cache_seconds``.

    Stale answers are served up to ``platform_config_stale_seconds`` while the
    platform is unreachable; ``health`` and ``failures`` are shared with the
    node's other lookups.
    """
    inner: ConfigSource
    if settings.platform_url is None:
        if platform is None:
            raise _no_platform()
        inner = InProcessConfigSource(platform)
    elif platform_protocol(settings) == PlatformProtocol.REFERENCE:
        inner = ReferenceHTTPConfigSource(_platform_url(settings), timeout=lookup_timeout(settings))
    else:
        inner = NativeHTTPConfigSource(_platform_url(settings), timeout=lookup_timeout(settings))
    return CachedConfigSource(
        inner,
        settings.config_cache_seconds,
        stale_seconds=settings.platform_config_stale_seconds,
        health=health,
        failures=failures,
        retry_seconds=settings.platform_retry_seconds,
        refresh_wait=settings.platform_refresh_wait_seconds,
    )


def build_batch_counter(settings: Settings, platform: Platform | None = None) -> BatchCounter:
    """Where the collector learns how many images a capped batch already holds."""
    if settings.platform_url is None:
        if platform is None:
            raise _no_platform()
        return InProcessBatchCounter(platform)
    if platform_protocol(settings) == PlatformProtocol.REFERENCE:
        return ReferenceHTTPBatchCounter(_platform_url(settings))
    return NativeHTTPBatchCounter(_platform_url(settings))


def build_model_source(settings: Settings, platform: Platform | None = None) -> ModelSource:
    """In-process when the platform runs here, else HTTP against ``platform_url``."""
    if settings.platform_url is None:
        if platform is None:
            raise _no_platform()
        return InProcessModelSource(platform)
    return HTTPModelSource(_platform_url(settings), timeout=lookup_timeout(settings))


def build_shadow_sink(
    settings: Settings, platform: Platform | None = None
) -> InProcessShadowCountSink | NativeHTTPShadowCountSink | None:
    """Where shadow counts go: in-process, native HTTP, or None for a reference platform."""
    if settings.platform_url is None:
        if platform is None:
            raise _no_platform()
        return InProcessShadowCountSink(platform)
    if platform_protocol(settings) == PlatformProtocol.REFERENCE:
        return None
    return NativeHTTPShadowCountSink(_platform_url(settings), timeout=lookup_timeout(settings))


def build_segment_sink(settings: Settings, platform: Platform | None = None) -> SegmentSink | None:
    """Where prediction-log segments ship: in-process, the native route, or None when the
    platform speaks the reference protocol (which has no such route)."""
    if settings.platform_url is None:
        if platform is None:
            raise _no_platform()
        return InProcessSegmentSink(platform)
    if platform_protocol(settings) == PlatformProtocol.REFERENCE:
        return None
    timeout = httpx.Timeout(
        NativeHTTPSegmentSink.TIMEOUT, connect=settings.platform_connect_timeout
    )
    return NativeHTTPSegmentSink(_platform_url(settings), timeout=timeout)

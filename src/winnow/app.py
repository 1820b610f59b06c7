"""The app factory: ``create_app(settings)`` builds one winnow HTTP app, nothing global.

Every router of the role is included by ``create_app`` before anything
starts; every service is built in the lifespan and kept on ``app.state``,
where routes reach them through typed dependencies
(``winnow.server.services`` for the inference routes,
``winnow.platform.deps`` for the platform, export and web routes). What is
built depends on ``settings.role``:

- ``all``: the platform in this process (database, blobs, routes) and the
  inference server talking to it without HTTP (in-process model source,
  config source and delivery);
- ``inference``: a stateless node; models, configurations and deliveries go
  over HTTP to ``settings.platform_url``, limits live at
  ``settings.limits_url`` (Redis to share them between nodes);
- ``platform``: only the platform routes.

Inference nodes cache each (api key, project) configuration for
``settings.config_cache_seconds``, so a change saved on the platform is in
force everywhere within a few seconds.

Route order: info and inference routes first, then the web UI (``/app``), the
export route and the platform router, then the legacy catch-all
``POST /{project}/{version}`` last.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from winnow.errors import ConfigurationError
from winnow.http.errors import install_error_handlers
from winnow.metrics import Metrics
from winnow.server import info_routes, legacy_routes, model_routes, v1_routes
from winnow.server.fast_lane import InferenceFastLane
from winnow.server.info_routes import winnow_version
from winnow.server.metrics_middleware import MetricsMiddleware
from winnow.server.services import Services
from winnow.server.url_fetch import UrlFetchPolicy, fetch_url
from winnow.settings import Role, Settings
from winnow.web.security import WebSecurityMiddleware

if TYPE_CHECKING:
    from winnow.activelearning.collector import Collector
    from winnow.activelearning.delivery import DeliveryWorker
    from winnow.activelearning.platform_client import ConfigSource
    from winnow.models.registry import ModelRegistry
    from winnow.platform.service import Platform
    from winnow.predlog.shipping import Shipper
    from winnow.predlog.writer import PredictionLog
    from winnow.server.shadow import ShadowRunner

log = logging.getLogger("winnow")


@dataclass(slots=True, frozen=True)
class StartupInfo:
    """What a started app tells its launcher (``winnow serve`` prints it)."""

    role: str
    url: str
    data_dir: Path
    platform_url: str | None
    bootstrap_key: str | None


@dataclass(slots=True)
class Runtime:
    """The services of one running app, and how to stop them in reverse order."""

    services: Services
    platform: Platform | None = None
    closers: list[Callable[[], Any]] = field(default_factory=list)
    collector: Collector | None = None  # both None in role platform; tests drain them
    delivery: DeliveryWorker | None = None
    shadow: ShadowRunner | None = None  # the shadow model runner (server/shadow.py)
    shipper: Shipper | None = None  # the prediction log's, when it is on

    def close(self) -> None:
        """Stop workers and release resources, last built first; errors are logged, not raised."""
        close_all(self.closers)


def close_all(closers: list[Callable[[], Any]]) -> None:
    """Call and remove every closer, last first, logging (not raising) their errors."""
    while closers:
        closer = closers.pop()
        try:
            closer()
        except Exception:
            log.exception("error while shutting down")


def _fetcher(settings: Settings) -> Callable[[str], bytes]:
    policy = UrlFetchPolicy.from_settings(settings)

    def fetch(url: str) -> bytes:
        return fetch_url(url, policy)

    return fetch


def preflight(settings: Settings) -> None:
    """Raise ``ConfigurationError`` naming the setting for any URL that cannot work.

    Runs the same constructors as :func:`build_runtime` (none of them connects
    or writes), so ``winnow serve`` can say what is wrong in one line before
    uvicorn starts, instead of a traceback from inside the lifespan.
    """
    from winnow.activelearning.limits import from_url as limits_from_url
    from winnow.platform import clients
    from winnow.platform.blobs import blob_store_from_url
    from winnow.platform.db import make_engine

    if settings.role is not Role.INFERENCE:
        make_engine(settings.resolved_database_url).dispose()
        blob_store_from_url(settings.resolved_blob_url, settings).close()
    if settings.role is Role.PLATFORM:
        return
    if settings.role is Role.INFERENCE and not settings.platform_url:
        raise ConfigurationError(
            "role inference needs a platform: set WINNOW_PLATFORM_URL or --platform-url"
        )
    limits_from_url(settings.limits_url, settings.data_dir).close()
    if settings.platform_url:
        client = clients.build_platform_client(settings, None)
        close = getattr(client, "close", None)
        if callable(close):
            close()


def build_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """Build (and start) every service the role needs; see the module docstring."""
    fetch = _fetcher(settings)
    if settings.role is Role.PLATFORM:
        from winnow.platform.service import Platform

        platform = Platform.open(settings)
        runtime = Runtime(
            services=Services(
                settings=settings, metrics=metrics, registry=None, collector=None, fetch_url=fetch
            ),
            platform=platform,
        )
        runtime.closers.append(platform.close)
        _sweep(platform, metrics, runtime.closers)
        return runtime
    return _build_inference_runtime(settings, metrics, fetch)


def _sweep(platform: Platform, metrics: Metrics, closers: list[Callable[[], Any]]) -> None:
    """Sweep orphan blobs at start and periodically (``blob_sweep_*`` settings)."""
    from winnow.platform.sweep import start_sweeper

    sweeper = start_sweeper(platform, metrics)
    if sweeper is not None:
        closers.append(sweeper.stop)


def _build_inference_runtime(
    settings: Settings, metrics: Metrics, fetch: Callable[[str], bytes]
) -> Runtime:
    from winnow.activelearning.collector import Collector
    from winnow.activelearning.delivery import DeliveryWorker
    from winnow.activelearning.limits import from_url as limits_from_url
    from winnow.activelearning.outbox import Outbox
    from winnow.models.registry import ModelRegistry
    from winnow.platform import clients
    from winnow.stale import FailureLog, PlatformHealth

    closers: list[Callable[[], Any]] = []
    platform: Platform | None = None
    try:
        if settings.role is Role.ALL:
            from winnow.platform.service import Platform

            platform = Platform.open(settings)
            closers.append(platform.close)
            _sweep(platform, metrics, closers)
        elif not settings.platform_url:
            raise ConfigurationError(
                "role inference needs a platform: set WINNOW_PLATFORM_URL or --platform-url"
            )
        # One view of the platform's health and one rate-limited failure log for
        # every lookup of this node (keys, project types, configurations).
        health = PlatformHealth()
        failures = FailureLog(
            interval=settings.platform_error_log_seconds,
            errors=metrics.platform_lookup_errors,
            stale=metrics.platform_stale_answers,
        )
        model_source = clients.build_model_source(settings, platform)
        config_source = clients.build_config_source(
            settings, platform, health=health, failures=failures
        )
        batch_counter = clients.build_batch_counter(settings, platform)
        for resource in (model_source, config_source, batch_counter):
            close = getattr(resource, "close", None)
            if callable(close):
                closers.append(close)
        limits = limits_from_url(settings.limits_url, settings.data_dir)
        closers.append(limits.close)
        registry = ModelRegistry(
            model_source,
            cache_dir=settings.data_dir / "models",
            max_loaded=settings.model_cache_size,
            key_stale_seconds=settings.platform_key_stale_seconds,
            health=health,
            failures=failures,
            retry_seconds=settings.platform_retry_seconds,
            refresh_wait=settings.platform_refresh_wait_seconds,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        predlog, shipper = _prediction_log(settings, metrics, platform, registry, closers)
        outbox = Outbox(
            settings.outbox_path,
            max_bytes=settings.outbox_max_bytes,
            recover=not settings.collection_process,  # the collection process recovers
        )
        closers.append(outbox.close)
        collector = Collector(
            settings=settings,
            config_source=config_source,
            limits=limits,
            outbox=outbox,
            metrics=metrics,
            batch_counter=batch_counter,
            decisions=predlog.decision if predlog is not None else None,
        )
        delivery: DeliveryWorker | None = None
        if not settings.collection_process:
            # Otherwise the node's collection process (winnow collect) prepares and delivers.
            delivery_client = clients.build_platform_client(settings, platform)
            closers.append(delivery_client.close)
            delivery = DeliveryWorker(
                outbox,
                delivery_client,
                metrics=metrics,
                backoff_base=settings.delivery_backoff_base,
                backoff_max=settings.delivery_backoff_max,
                concurrency=settings.delivery_concurrency,
                batch_size=settings.delivery_batch_size,
                on_duplicate=lambda entry: collector.give_back_duplicate(entry.idempotency_key),
                on_batch_full=lambda entry: collector.batch_refused(entry.idempotency_key),
            )
        collector.start()
        closers.append(lambda: collector.stop(10.0))
        shadow = _shadow_runner(settings, config_source, registry, metrics, platform, closers)
        if delivery is not None:
            delivery.start()
            closers.append(functools.partial(delivery.stop, 10.0))
    except BaseException:
        close_all(closers)
        raise
    services = Services(
        settings=settings,
        metrics=metrics,
        registry=registry,
        collector=collector,
        fetch_url=fetch,
        shadow=shadow,
        predlog=predlog,
    )
    return Runtime(
        services=services,
        platform=platform,
        closers=closers,
        collector=collector,
        delivery=delivery,
        shadow=shadow,
        shipper=shipper,
    )


def _shadow_runner(
    settings: Settings,
    config_source: ConfigSource,
    registry: ModelRegistry,
    metrics: Metrics,
    platform: Platform | None,
    closers: list[Callable[[], Any]],
) -> ShadowRunner:
    """The shadow model runner, started; stopped before the collector (closers run last first)."""
    import uuid

    from winnow.platform import clients
    from winnow.server.shadow import ShadowRunner

    sink = clients.build_shadow_sink(settings, platform)
    if sink is not None:
        closers.append(sink.close)
    runner = ShadowRunner(
        settings=settings,
        config_source=config_source,
        models=registry.get,
        metrics=metrics,
        sink=sink,
        node=uuid.uuid4().hex,
    )
    runner.start()
    closers.append(lambda: runner.stop(10.0))
    return runner


def _prediction_log(
    settings: Settings,
    metrics: Metrics,
    platform: Platform | None,
    registry: ModelRegistry,
    closers: list[Callable[[], Any]],
) -> tuple[PredictionLog | None, Shipper | None]:
    """The started prediction log and its shipper (``predlog_*`` settings), or Nones when off.

    Stopped after the collector (closers run last first): its last decisions are
    flushed, every open segment closed, then shipped once more.
    """
    from winnow.platform import clients
    from winnow.predlog.shipping import Shipper
    from winnow.predlog.writer import PredictionLog

    if not settings.predlog_enabled:
        return None, None
    sink = clients.build_segment_sink(settings, platform)
    if sink is None:
        log.warning(
            "prediction log off: the platform speaks the reference protocol, which cannot "
            "store segments"
        )
        return None, None
    close = getattr(sink, "close", None)
    if callable(close):
        closers.append(close)
    predlog = PredictionLog.from_settings(
        settings, workspace_of=registry.workspace_of, metrics=metrics
    )
    shipper = Shipper(predlog.closed_dir, sink, metrics=metrics)
    predlog.on_closed = shipper.wake
    predlog.start()
    shipper.start()
    closers.append(shipper.stop)
    closers.append(predlog.stop)
    return predlog, shipper


def include_routes(app: FastAPI, role: Role) -> None:
    """Include every router of ``role`` on ``app``, in the order that keeps each reachable.

    Info routes, then the inference routes (``/model``, ``/infer``), then the
    web UI (``/app``) and its static files, the export and evaluation routes
    and the platform routes, then the legacy catch-all ``POST /{project}/{version}`` last (it
    must come after every other two-segment POST); with the inference routes, the
    :class:`~winnow.server.fast_lane.InferenceFastLane` in front of every middleware added
    before (call this last). Nothing is started: the
    routes find their services on ``app.state`` once the lifespan has run.
    """
    app.include_router(info_routes.router)
    if role is not Role.PLATFORM:
        app.include_router(model_routes.router)
        app.include_router(v1_routes.router)
    if role is not Role.INFERENCE:
        # Imported here so that an inference node never loads the platform.
        from winnow.backtest import routes as backtest_routes
        from winnow.evaluation import routes as evaluation_routes
        from winnow.platform import routes as platform_routes
        from winnow.platform.export import routes as export_routes
        from winnow.platform.importing import routes as import_routes
        from winnow.web import routes as web_routes
        from winnow.web.assets import mount_static

        app.include_router(web_routes.router)
        mount_static(app)
        app.include_router(export_routes.router)
        app.include_router(evaluation_routes.router)
        app.include_router(backtest_routes.router)
        app.include_router(import_routes.router)
        app.include_router(platform_routes.router)
    if role is not Role.PLATFORM:
        app.include_router(legacy_routes.router)
        # Outermost of the app's own middleware: stub v1 requests skip the rest.
        app.add_middleware(InferenceFastLane)


def create_app(
    settings: Settings, *, on_started: Callable[[StartupInfo], None] | None = None
) -> FastAPI:
    """A winnow app for ``settings``; services start in its lifespan and stop with it.

    Every route of the role is included here, before anything starts, so
    ``create_app(settings).openapi()`` works without a database; the lifespan
    only fills ``app.state`` (``runtime``, ``services``, ``platform``).

    ``on_started`` is called once the services are up (``winnow serve`` uses
    it to print where data lives, the URL and a freshly created API key).
    """
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await run_in_threadpool(build_runtime, settings, metrics)
        app.state.runtime = runtime
        app.state.services = runtime.services
        app.state.platform = runtime.platform
        if on_started is not None:
            on_started(
                StartupInfo(
                    role=settings.role.value,
                    url=f"http://{settings.host}:{settings.port}",
                    data_dir=settings.data_dir,
                    platform_url=settings.platform_url,
                    bootstrap_key=runtime.platform.bootstrap_key if runtime.platform else None,
                )
            )
        try:
            yield
        finally:
            with suppress(Exception):
                await run_in_threadpool(runtime.close)

    app = FastAPI(
        title="winnow",
        version=winnow_version(),
        summary="Computer-vision inference that collects the images worth labeling.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.role is not Role.INFERENCE:
        app.add_middleware(WebSecurityMiddleware)
    include_routes(app, settings.role)
    return app

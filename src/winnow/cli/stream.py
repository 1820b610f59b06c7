"""``winnow stream``: run a model on video sources and collect what the configuration asks for.

Without ``--platform-url`` the platform runs in this process on the data dir
(as ``winnow serve`` with role ``all``); with it, this is an inference node
that fetches models and configurations from that platform and delivers
there. Either way the frames go through the same collector, limits, outbox
and delivery worker as the HTTP server's predictions.

Ctrl-C or SIGTERM stops reading, finishes the frames in flight, drains the
collector so that every accepted datapoint is in the outbox, and exits 0.
When every source has ended by itself (files), the command first waits up to
``--flush-seconds`` for the delivery worker to empty the outbox.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.text import Text

from winnow.activelearning.collector import Collector
from winnow.activelearning.outbox import EntryStatus, Outbox
from winnow.cli.serve import build_settings
from winnow.errors import ConfigurationError, WinnowError
from winnow.metrics import Metrics
from winnow.models.registry import ModelRegistry, parse_model_id
from winnow.settings import Role, Settings
from winnow.stream.runner import StreamRunner
from winnow.stream.sources import FrameSource, open_source
from winnow.stream.status import MetricsServer, StreamMetrics, format_status

console = Console(stderr=True)
log = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamServices:
    """What a stream process runs on: the model registry and (optionally) the collector."""

    settings: Settings
    metrics: Metrics
    registry: ModelRegistry
    collector: Collector | None
    bootstrap_key: str | None


@contextmanager
def open_services(
    settings: Settings, metrics: Metrics, *, collection: bool = True
) -> Iterator[StreamServices]:
    """Build the inference services (and the platform, without ``platform_url``); close on exit.

    The runtime is the HTTP server's (``winnow.app.build_runtime``): same
    registry, collector, limits, outbox and delivery worker. ``collection``
    False leaves the collector out (inference only).
    """
    from winnow.app import build_runtime

    role = Role.ALL if settings.platform_url is None else Role.INFERENCE
    settings = settings.model_copy(update={"role": role})
    runtime = build_runtime(settings, metrics)
    try:
        registry = runtime.services.registry
        collector = runtime.services.collector
        if registry is None or not isinstance(collector, Collector):
            raise WinnowError("the inference runtime has no model registry or collector")
        yield StreamServices(
            settings=settings,
            metrics=metrics,
            registry=registry,
            collector=collector if collection else None,
            bootstrap_key=runtime.platform.bootstrap_key if runtime.platform else None,
        )
    finally:
        runtime.close()


def run_until_stopped(
    runner: StreamRunner, *, show_status: bool, stop: threading.Event, refresh: float = 0.5
) -> None:
    """Start ``runner`` and wait until every source ends or ``stop`` is set; then stop it."""
    runner.start()
    try:
        if show_status:
            with Live(Text(""), console=console, refresh_per_second=4, transient=False) as live:
                while not stop.is_set() and not runner.wait(0):
                    live.update(Text(format_status(runner.status())))
                    stop.wait(refresh)
                live.update(Text(format_status(runner.status())))
        else:
            while not stop.is_set() and not runner.wait(0):
                stop.wait(refresh)
    finally:
        runner.stop()


def wait_for_delivery(outbox: Outbox, *, timeout: float, stop: threading.Event) -> int:
    """Wait until the outbox holds nothing undelivered, ``timeout`` passes or ``stop`` is set.

    Returns the number of datapoints still waiting (pending or being delivered).
    """
    deadline = time.monotonic() + timeout
    while True:
        counts = outbox.stats().counts
        waiting = counts[EntryStatus.PENDING] + counts[EntryStatus.DELIVERING]
        if waiting == 0 or stop.is_set() or time.monotonic() >= deadline:
            return waiting
        stop.wait(0.2)


def stream(
    source: Annotated[
        list[str],
        typer.Option(
            "--source",
            help=(
                "A video file, a folder of images, an rtsp:// or http(s):// stream URL, or a "
                "camera index; ID=SOURCE names it (the id tags every datapoint). Repeat for "
                "several sources."
            ),
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Model id PROJECT/VERSION.")],
    api_key: Annotated[str, typer.Option("--api-key", help="API key of the workspace.")],
    max_fps: Annotated[
        float | None,
        typer.Option("--max-fps", min=0.01, help="Most frames processed per second per source."),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime/--fast",
            help="Play files at their native rate (default: as fast as possible).",
        ),
    ] = False,
    platform_url: Annotated[
        str | None,
        typer.Option("--platform-url", help="Remote platform URL (default: in-process)."),
    ] = None,
    limits_url: Annotated[
        str | None,
        typer.Option("--limits-url", help="memory://, local:// or redis://host:port/db."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Folder for the database, outbox and models.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=0, max=65535, help="Serve /metrics on this port."),
    ] = None,
    status: Annotated[
        bool, typer.Option("--status/--no-status", help="Show the live status line.")
    ] = True,
    flush_seconds: Annotated[
        float,
        typer.Option(
            "--flush-seconds",
            min=0,
            help="When every source has ended, wait up to this long for delivery to the platform.",
        ),
    ] = 30.0,
) -> None:
    """Run a model on video sources and collect the frames worth labeling."""
    try:
        parse_model_id(model)
        settings = build_settings(
            platform_url=platform_url, limits_url=limits_url, data_dir=data_dir
        )
        sources: list[FrameSource] = [open_source(spec) for spec in source]
    except WinnowError as exc:  # the arguments cannot work: exit 2 (winnow.cli.main)
        raise ConfigurationError(exc.message) from exc
    except ValidationError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from exc

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        console.print(f"{signal.Signals(signum).name}: stopping (finishing frames in flight)")
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    metrics = Metrics()
    server: MetricsServer | None = None
    try:
        with open_services(settings, metrics) as services:
            if services.bootstrap_key:
                console.print(f"created workspace 'default'; API key: {services.bootstrap_key}")
            runner = StreamRunner(
                sources,
                model,
                api_key,
                registry=services.registry,
                collector=services.collector,
                max_fps=max_fps,
                realtime=realtime,
                metrics=StreamMetrics(metrics),
            )
            if metrics_port is not None:
                server = MetricsServer(metrics, host=settings.host, port=metrics_port)
                server.start()
                console.print(f"metrics on http://{settings.host}:{server.port}/metrics")
            run_until_stopped(runner, show_status=status, stop=stop)
            final = runner.status()
            if services.collector is not None:
                # Files done: give delivery a moment, so a batch job's data reaches the platform.
                waiting = wait_for_delivery(
                    services.collector.outbox,
                    timeout=0.0 if stop.is_set() else flush_seconds,
                    stop=stop,
                )
                if waiting:
                    console.print(
                        f"{waiting} datapoints wait in the outbox ({settings.outbox_path}); "
                        "the next winnow stream or winnow serve on this data dir delivers them"
                    )
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(format_status(final))

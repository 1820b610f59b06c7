"""What a stream runner reports: per-source state and counters, metrics, the status line.

``/metrics`` of a stream process is served by :class:`MetricsServer`, a small
HTTP server on a port of its own (the runner has no web app).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import Counter, Gauge

from winnow.metrics import Metrics


class SourceState(StrEnum):
    """Life cycle of one source in a runner."""

    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


@dataclass(slots=True, frozen=True)
class SourceStatus:
    """A snapshot of one source.

    ``processed``: frames that went through the model; ``dropped``: frames
    skipped to keep up (stale live frames, frames over ``max_fps``);
    ``failed``: frames whose inference failed; ``collected``: frames the
    collector accepted for sampling; ``reconnects``: connection attempts
    after a drop.
    """

    source_id: str
    state: SourceState
    processed: int
    dropped: int
    failed: int
    collected: int
    reconnects: int
    last_error: str | None


FRAME_OUTCOMES = ("processed", "dropped", "failed", "collected")


class StreamMetrics:
    """Prometheus series of a stream runner, on the process's :class:`Metrics` registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.frames = Counter(
            "winnow_stream_frames",
            "Frames of stream sources by outcome (processed, dropped, failed, collected).",
            ["source", "outcome"],
            registry=metrics.registry,
        )
        self.state = Gauge(
            "winnow_stream_source_state",
            "1 for the current state of each stream source, 0 for the others.",
            ["source", "state"],
            registry=metrics.registry,
        )

    def set_state(self, source_id: str, state: SourceState) -> None:
        """Mark ``state`` as the source's current one."""
        for each in SourceState:
            self.state.labels(source=source_id, state=each.value).set(1 if each is state else 0)

    def count(self, source_id: str, outcome: str, amount: int = 1) -> None:
        """Count frames of one outcome (see ``FRAME_OUTCOMES``)."""
        if amount:
            self.frames.labels(source=source_id, outcome=outcome).inc(amount)


def format_status(statuses: list[SourceStatus]) -> str:
    """One console line: ``cam1 running 120 ok 30 dropped | video ended 90 ok``."""
    parts = []
    for s in statuses:
        text = f"{s.source_id} {s.state.value} {s.processed} ok"
        if s.dropped:
            text += f" {s.dropped} dropped"
        if s.failed:
            text += f" {s.failed} failed"
        if s.collected:
            text += f" {s.collected} collected"
        if s.state is SourceState.RECONNECTING and s.last_error:
            text += f" ({s.last_error[:60]})"
        parts.append(text)
    return " | ".join(parts)


class MetricsServer:
    """Serves ``GET /metrics`` (Prometheus text) and ``GET /healthz`` on its own thread."""

    def __init__(self, metrics: Metrics, *, host: str = "127.0.0.1", port: int = 0) -> None:
        render = metrics.render

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] == "/metrics":
                    body, status, kind = render(), 200, "text/plain; version=0.0.4"
                elif self.path == "/healthz":
                    body, status, kind = b'{"status": "ok"}', 200, "application/json"
                else:
                    body, status, kind = b'{"message": "not found"}', 404, "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stream-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

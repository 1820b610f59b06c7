"""Prometheus metrics of one winnow process, on a registry of its own.

Each app (and each test) builds its own :class:`Metrics`, so nothing is
global. Services receive it and count what they do; ``/metrics`` renders
``Metrics.render()``.

Under ``winnow serve --workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``
for its children (prometheus_client's multiprocess mode): every worker and the
collection process write their values there, and ``render()`` of any of them
sums the counters of all (gauges: the most recent value written).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from winnow.states import DatapointOutcome


class Metrics:
    """Counters and gauges of one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "winnow_requests",
            "HTTP requests served.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "winnow_request_seconds",
            "HTTP request latency in seconds.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.datapoints = Counter(
            "winnow_datapoints",
            "Datapoints by project, strategy and outcome.",
            ["project", "strategy", "outcome"],
            registry=self.registry,
        )
        self.collection_errors = Counter(
            "winnow_collection_errors",
            "Failures inside collection (never visible to inference clients), by cause.",
            ["cause"],
            registry=self.registry,
        )
        self.config_warnings = Counter(
            "winnow_config_warnings",
            "Configuration warnings met at run time (unknown fields and strategy types ignored,"
            " limits of 0), counted once per configuration change, by project.",
            ["project"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "winnow_outbox_depth",
            "Datapoints in the outbox by status.",
            ["status"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.outbox_bytes = Gauge(
            "winnow_outbox_bytes",
            "Bytes held by the outbox.",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.platform_lookup_errors = Counter(
            "winnow_platform_lookup_errors",
            "Platform lookups of an inference node that found the platform unreachable, by lookup.",
            ["lookup"],
            registry=self.registry,
        )
        self.platform_stale_answers = Counter(
            "winnow_platform_stale_answers",
            "Last known answers served while the platform was unreachable, by lookup.",
            ["lookup"],
            registry=self.registry,
        )
        self.orphans_swept = Counter(
            "winnow_orphans_swept",
            "Blobs and temp files no row referenced, deleted by the platform's sweep, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.sweeps = Counter(
            "winnow_orphan_sweeps", "Completed sweeps of orphan blobs.", registry=self.registry
        )
        self.collector_queue = Gauge(
            "winnow_collector_queue",
            "Decoded images waiting in the collector's hand-off queue.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

        self.shadow_runs = Counter(
            "winnow_shadow_runs",
            "Shadow model runs (after the response, off the request path), by project.",
            ["project"],
            registry=self.registry,
        )
        self.shadow_disagreements = Counter(
            "winnow_shadow_disagreements",
            "Shadow model runs whose prediction disagreed with the served one, by project.",
            ["project"],
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "winnow_shadow_skipped",
            "Shadow model runs due but skipped, by project and reason (queue_full, time_budget,"
            " task_mismatch, error).",
            ["project", "reason"],
            registry=self.registry,
        )
        self.shadow_seconds = Counter(
            "winnow_shadow_seconds",
            "Seconds spent running shadow models, by project.",
            ["project"],
            registry=self.registry,
        )
        self.prediction_records = Counter(
            "winnow_prediction_records",
            "Prediction-log records by state: written (to an open segment on disk) or dropped "
            "(the in-memory buffer was full, or the API key's workspace could not be resolved).",
            ["state"],
            registry=self.registry,
        )
        self.prediction_segments = Counter(
            "winnow_prediction_segments",
            "Prediction-log segments by state: closed (Parquet written), recovered (closed after "
            "a crash), shipped (stored on the platform), rejected (refused for good, kept "
            "locally), retried (an upload that failed and will be tried again).",
            ["state"],
            registry=self.registry,
        )

    def datapoint(self, project: str, strategy: str, outcome: DatapointOutcome | str) -> None:
        """Count one datapoint outcome (``winnow_datapoints{outcome=<its value>}``).

        ``outcome`` must be a ``DatapointOutcome`` value: ValueError otherwise,
        so no label outside the one vocabulary is ever exported.
        """
        label = DatapointOutcome(outcome).value
        self.datapoints.labels(project=project, strategy=strategy, outcome=label).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (of every process of the node
        in multiprocess mode, see the module docstring)."""
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))

"""``winnow collect``: the node's collection process (``winnow serve`` starts it).

It prepares the captures the serving processes wrote to the outbox (decode,
resize, encode, rescale: ``winnow.activelearning.capture``) and delivers
every due entry to the platform in batches, with retries, until SIGTERM or
SIGINT (it then finishes the batch in flight). The platform is
``WINNOW_PLATFORM_URL``, or the embedded platform of this data dir. Killed
at any point (``kill -9`` included), nothing accepted is lost: entries it
was delivering are made due again when it starts, and registration is
idempotent by key, so each is stored once.

Credits are given back (an exact duplicate, a full batch) through the limits
backend ``WINNOW_LIMITS_URL``, which must be shared with the serving
processes for that to reach them (``memory://`` is not: a warning says so).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from winnow.settings import Settings

if TYPE_CHECKING:
    from winnow.platform.service import Platform

log = logging.getLogger("winnow.collect")

COLLECTION_PID_FILE = "collection.pid"
"""The file of the data dir holding the process id of the node's running collection process."""


def run_collection(settings: Settings, stop: threading.Event) -> None:
    """Prepare and deliver the outbox of ``settings.data_dir`` until ``stop`` is set."""
    from winnow.activelearning.delivery import CreditReturns, DeliveryWorker
    from winnow.activelearning.limits import from_url as limits_from_url
    from winnow.activelearning.outbox import Outbox
    from winnow.metrics import Metrics
    from winnow.platform.clients import build_platform_client

    platform: Platform | None = None
    if settings.platform_url is None:
        from winnow.platform.service import Platform

        platform = Platform.open(settings)
    limits = limits_from_url(settings.limits_url, settings.data_dir)
    if settings.limits_url.startswith("memory:"):
        log.warning(
            "collection process with memory:// limits: credits of duplicates and full batches "
            "cannot be given back to the serving processes (use a shared limits backend)"
        )
    client = build_platform_client(settings, platform)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(settings.outbox_path, max_bytes=settings.outbox_max_bytes)
    returns = CreditReturns(limits)
    worker = DeliveryWorker(
        outbox,
        client,
        metrics=Metrics(),
        backoff_base=settings.delivery_backoff_base,
        backoff_max=settings.delivery_backoff_max,
        concurrency=settings.delivery_concurrency,
        batch_size=settings.delivery_batch_size,
        poll_interval=0.1,
        on_duplicate=returns.duplicate,
        on_batch_full=returns.batch_full,
    )
    worker.start()
    try:
        stop.wait()
    finally:
        worker.stop(30.0)
        client.close()
        outbox.close()
        limits.close()
        if platform is not None:
            platform.close()


def collect_main(flags: dict[str, Any]) -> None:
    """Entry point of a collection process: settings from the environment and ``flags``."""
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    logging.basicConfig(level=settings.log_level.upper())
    if settings.collection_nice:
        # Serving first: this process takes the CPU the serving processes leave.
        os.nice(settings.collection_nice)
    # Which process of the node collects (for operators, and for tests that kill it).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / COLLECTION_PID_FILE).write_text(f"{os.getpid()}\n")
    stop = threading.Event()

    def stopping(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    run_collection(settings, stop)


def collect() -> None:
    """Prepare and deliver the collected datapoints of this node until stopped (SIGTERM)."""
    collect_main({})

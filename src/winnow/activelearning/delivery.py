"""The delivery worker: outbox -> platform, with retries, backoff and jitter.

``concurrency`` loops run side by side, each claiming one entry at a time,
delivering it with ``client.deliver`` and marking the outcome:

- delivered: ``mark_delivered`` (counted ``delivered``); an exact duplicate
  found on the first attempt (``Delivered.duplicate``) is counted
  ``duplicate`` instead and handed to ``on_duplicate`` (the collector gives
  its credit and batch place back);
- ``DeliveryError`` with ``batch_full``: the batch reached its
  ``max_batch_images``, ``mark_batch_full`` (bytes freed at once, counted
  ``batch_full``, handed to ``on_batch_full``);
- ``DeliveryError`` with ``retryable=False``: the platform refused it for
  good, ``mark_failed`` (counted ``failed``);
- ``DeliveryError`` with ``retryable=True`` or any other exception: retried
  after an exponential backoff with full jitter, ``uniform(0, min(backoff_max,
  backoff_base * 2 ** (attempts - 1)))`` seconds. Retries never give up: an
  accepted datapoint is only ever delivered or refused by the platform.

``run(burst=True)`` delivers everything due when the burst starts and returns.
Entries that fail during the burst are retried within it only when their
next attempt falls within ``horizon`` seconds of the burst's start (default
0: each due entry gets one attempt); the worker sleeps (``sleep``) until such
a retry is due. ``start()`` runs the endless loop in daemon threads;
``stop(timeout)`` lets in-flight deliveries finish and returns.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from winnow.activelearning.outbox import Entry, EntryStatus, Outbox
from winnow.activelearning.platform_client import PlatformClient
from winnow.errors import DeliveryError
from winnow.metrics import Metrics
from winnow.states import DatapointOutcome

log = logging.getLogger(__name__)

_GAUGE_EVERY_SECONDS = 1.0


class DeliveryWorker:
    """Sends outbox entries to a platform client; see the module docstring for the rules."""

    def __init__(
        self,
        outbox: Outbox,
        client: PlatformClient,
        *,
        metrics: Metrics,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        concurrency: int = 2,
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_done: Callable[[Entry, bool], None] | None = None,
        on_duplicate: Callable[[Entry], object] | None = None,
        on_batch_full: Callable[[Entry], object] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if backoff_base <= 0 or backoff_max <= 0:
            raise ValueError("backoff_base and backoff_max must be > 0")
        self.outbox = outbox
        self.client = client
        self.metrics = metrics
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._on_done = on_done
        self._on_duplicate = on_duplicate
        self._on_batch_full = on_batch_full
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._gauge_lock = threading.Lock()
        self._gauge_at = float("-inf")
        self._logged: set[str] = set()

    # ------------------------------------------------------------------ public

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1``: full jitter, capped at ``backoff_max``."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempts - 1))
        with self._rng_lock:
            return self._rng.uniform(0.0, ceiling)

    def run(self, burst: bool = False, *, horizon: float = 0.0) -> None:
        """Deliver entries until stopped, or (``burst``) until nothing due within ``horizon`` is left.

        Runs ``concurrency`` loops (this thread plus helpers) and returns when
        all of them have finished.
        """
        self._stop.clear()
        deadline = self._clock() + horizon if burst else None
        helpers = [
            threading.Thread(target=self._loop, args=(deadline,), daemon=True)
            for _ in range(self.concurrency - 1)
        ]
        for helper in helpers:
            helper.start()
        self._loop(deadline)
        for helper in helpers:
            helper.join()
        self._update_gauges(force=True)

    def start(self) -> None:
        """Run the endless delivery loops in daemon threads."""
        if self._threads:
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._loop, args=(None,), name=f"winnow-delivery-{i}", daemon=True
            )
            for i in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loops to stop; in-flight deliveries finish first. Waits up to ``timeout``."""
        self._stop.set()
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    # ----------------------------------------------------------------- the loop

    def _loop(self, deadline: float | None) -> None:
        while not self._stop.is_set() and not self.outbox.closed:
            now = self._clock()
            try:
                claimed = self.outbox.claim(1, now if deadline is None else min(now, deadline))
                next_due = None if claimed else self.outbox.next_due()
            except Exception as exc:  # the disk or the database: keep the thread alive
                self._log_once("outbox", "delivery worker cannot read the outbox: %s", exc)
                if deadline is not None:
                    return  # a burst reports what is left rather than spin
                self._stop.wait(self.poll_interval)
                continue
            if claimed:
                try:
                    self._deliver(claimed[0])
                except Exception as exc:  # marking failed: recover() makes it due again
                    self._log_once("outbox", "delivery worker cannot write the outbox: %s", exc)
                    if deadline is not None:
                        return
                    self._stop.wait(self.poll_interval)
                continue
            self._update_gauges(force=False)
            if deadline is not None:
                if next_due is None or next_due > deadline:
                    return
                self._sleep(max(0.0, next_due - self._clock()))
                continue
            wait = self.poll_interval
            if next_due is not None:
                wait = min(wait, max(0.0, next_due - self._clock()))
            self._stop.wait(wait)

    def _deliver(self, entry: Entry) -> None:
        dp = entry.datapoint
        try:
            platform_id = self.client.deliver(dp)
        except DeliveryError as exc:
            if exc.retryable:
                self._retry(entry, exc.message)
            elif exc.batch_full:
                self.outbox.mark_batch_full(entry.id, exc.message)
                self.metrics.datapoint(dp.project, dp.strategy or "-", DatapointOutcome.BATCH_FULL)
                self._log_once("batch_full", "datapoints refused for a full batch: %s", exc.message)
                if self._on_batch_full is not None:
                    self._on_batch_full(entry)
                self._done(entry, False)
            else:
                self.outbox.mark_failed(entry.id, exc.message)
                self.metrics.datapoint(dp.project, dp.strategy or "-", DatapointOutcome.FAILED)
                log.warning(
                    "datapoint %s refused by the platform: %s", entry.idempotency_key, exc.message
                )
                self._done(entry, False)
            return
        except Exception as exc:
            self._retry(entry, f"{type(exc).__name__}: {exc}")
            return
        self.outbox.mark_delivered(entry.id, platform_id)
        # An exact duplicate stored nothing: its credit and batch place go back. On a
        # retry the "duplicate" may be this datapoint's own first attempt, so only
        # a first attempt's answer is trusted.
        if getattr(platform_id, "duplicate", False) and entry.attempts <= 1:
            self.metrics.datapoint(dp.project, dp.strategy or "-", DatapointOutcome.DUPLICATE)
            if self._on_duplicate is not None:
                self._on_duplicate(entry)
        else:
            self.metrics.datapoint(dp.project, dp.strategy or "-", DatapointOutcome.DELIVERED)
        self._done(entry, True)
        self._update_gauges(force=False)

    def _retry(self, entry: Entry, error: str) -> None:
        delay = self.backoff(entry.attempts)
        self.outbox.mark_retry(entry.id, error, self._clock() + delay)
        self._log_once(
            error.split(":")[0], "delivery failed, retrying (attempt %d): %s", entry.attempts, error
        )

    def _done(self, entry: Entry, delivered: bool) -> None:
        if self._on_done is not None:
            self._on_done(entry, delivered)

    def _log_once(self, cause: str, message: str, *args: object) -> None:
        # One line per cause, not one per datapoint: a platform outage would flood the log.
        if cause in self._logged:
            log.debug(message, *args)
            return
        self._logged.add(cause)
        log.warning(message, *args)

    def _update_gauges(self, *, force: bool) -> None:
        now = time.monotonic()
        with self._gauge_lock:
            if not force and now - self._gauge_at < _GAUGE_EVERY_SECONDS:
                return
            self._gauge_at = now
        try:
            stats = self.outbox.stats()
        except Exception:
            return
        for status in EntryStatus:
            self.metrics.outbox_depth.labels(status=status.value).set(stats.counts[status])
        self.metrics.outbox_bytes.set(stats.bytes)

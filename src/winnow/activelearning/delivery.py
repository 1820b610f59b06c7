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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from winnow.activelearning.capture import prepare_capture
from winnow.activelearning.datapoint import Datapoint
from winnow.activelearning.limits.base import LimitsBackend
from winnow.activelearning.outbox import Entry, EntryStatus, Outbox, OutboxItem
from winnow.activelearning.platform_client import PlatformClient
from winnow.errors import DeliveryError, WinnowError
from winnow.metrics import Metrics
from winnow.states import DatapointOutcome

log = logging.getLogger(__name__)

_GAUGE_EVERY_SECONDS = 1.0


@dataclass(slots=True)
class _Settlement:
    """The outcomes of one delivered batch, by kind."""

    delivered: list[tuple[Entry, str]] = field(default_factory=list)
    retry: list[tuple[Entry, str]] = field(default_factory=list)
    failed: list[tuple[Entry, str]] = field(default_factory=list)
    batch_full: list[tuple[Entry, str]] = field(default_factory=list)


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
        batch_size: int = 1,
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
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if backoff_base <= 0 or backoff_max <= 0:
            raise ValueError("backoff_base and backoff_max must be > 0")
        self.outbox = outbox
        self.client = client
        self.metrics = metrics
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.concurrency = concurrency
        self.batch_size = batch_size
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
                claimed = self.outbox.claim(
                    self.batch_size, now if deadline is None else min(now, deadline)
                )
                next_due = None if claimed else self.outbox.next_due()
            except Exception as exc:  # the disk or the database: keep the thread alive
                self._log_once("outbox", "delivery worker cannot read the outbox: %s", exc)
                if deadline is not None:
                    return  # a burst reports what is left rather than spin
                self._stop.wait(self.poll_interval)
                continue
            if claimed:
                try:
                    self._deliver(claimed)
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

    def _deliver(self, entries: list[Entry]) -> None:
        """Prepare the captures, deliver the batch, record every outcome in one outbox write."""
        settle = _Settlement()
        ready = self._prepare(entries, settle)
        results = self._send([dp for _entry, dp in ready])
        for (entry, _dp), result in zip(ready, results, strict=True):
            if isinstance(result, DeliveryError):
                if result.retryable:
                    settle.retry.append((entry, result.message))
                elif result.batch_full:
                    settle.batch_full.append((entry, result.message))
                else:
                    settle.failed.append((entry, result.message))
            elif isinstance(result, BaseException):
                settle.retry.append((entry, f"{type(result).__name__}: {result}"))
            else:
                settle.delivered.append((entry, result))
        retry_at = [(e, err, self._clock() + self.backoff(e.attempts)) for e, err in settle.retry]
        # A capture prepared for this attempt keeps its prepared datapoint for the next one.
        retrying = {e.id for e, _err, _at in retry_at}
        prepared = [
            (entry.id, OutboxItem(dp, None, entry.credit))
            for entry, dp in ready
            if entry.capture is not None and entry.id in retrying
        ]
        self.outbox.settle(
            delivered=[(e.id, str(pid)) for e, pid in settle.delivered],
            retry=[(e.id, err, at) for e, err, at in retry_at],
            failed=[(e.id, err) for e, err in settle.failed],
            batch_full=[(e.id, err) for e, err in settle.batch_full],
            prepared=prepared,
        )
        self._report(settle)

    @staticmethod
    def _prepare(entries: list[Entry], settle: _Settlement) -> list[tuple[Entry, Datapoint]]:
        """The prepared datapoint of each entry (captures prepared now); failures to ``settle``."""
        ready: list[tuple[Entry, Datapoint]] = []
        for entry in entries:
            if entry.capture is None:
                ready.append((entry, entry.datapoint))
                continue
            try:
                ready.append((entry, prepare_capture(entry.datapoint, entry.capture)))
            except WinnowError as exc:  # the original does not decode: it never will
                settle.failed.append((entry, f"the captured image cannot be prepared: {exc}"))
            except Exception as exc:  # memory, a bug: try again later
                settle.retry.append((entry, f"{type(exc).__name__}: {exc}"))
        return ready

    def _report(self, settle: _Settlement) -> None:
        """Metrics, logs and callbacks of a settled batch (after the outbox recorded it)."""
        for entry, error in settle.retry:
            self._log_once(
                error.split(":")[0],
                "delivery failed, retrying (attempt %d): %s",
                entry.attempts,
                error,
            )
        for entry, error in settle.batch_full:
            dp = entry.datapoint
            self.metrics.datapoint(dp.project, dp.strategy or "-", DatapointOutcome.BATCH_FULL)
            self._log_once("batch_full", "datapoints refused for a full batch: %s", error)
            if self._on_batch_full is not None:
                self._on_batch_full(entry)
            self._done(entry, False)
        for entry, error in settle.failed:
            dp = entry.datapoint
            self.metrics.datapoint(dp.project, dp.strategy or "-", DatapointOutcome.FAILED)
            log.warning("datapoint %s refused by the platform: %s", entry.idempotency_key, error)
            self._done(entry, False)
        for entry, platform_id in settle.delivered:
            dp = entry.datapoint
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

    def _send(self, datapoints: list[Datapoint]) -> list[str | BaseException]:
        """Deliver in one call when the client can (``deliver_many``), else one by one."""
        if not datapoints:
            return []
        deliver_many = getattr(self.client, "deliver_many", None)
        if deliver_many is not None and len(datapoints) > 1:
            try:
                results: list[str | BaseException] = list(deliver_many(datapoints))
            except Exception as exc:  # the whole call failed: every datapoint is retried
                return [exc] * len(datapoints)
            if len(results) != len(datapoints):
                error = DeliveryError(
                    f"the platform answered {len(results)} results for {len(datapoints)}",
                    retryable=True,
                )
                return [error] * len(datapoints)
            return results
        out: list[str | BaseException] = []
        for dp in datapoints:
            try:
                out.append(self.client.deliver(dp))
            except Exception as exc:
                out.append(exc)
        return out

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


class CreditReturns:
    """Gives credits back from the delivering side, with the credit the outbox entry carries.

    What a collection process wires as ``on_duplicate`` / ``on_batch_full`` of its
    :class:`DeliveryWorker` (the serving processes that took the credits are other
    processes): an exact duplicate gives its credit and batch place back; a full
    batch gives the strategy credit back and teaches the limits that the batch is
    full. Only a limits backend shared with the serving processes (Redis, or the
    one-host cross-process backend) sees it; errors are logged, never raised.
    """

    def __init__(
        self, limits: LimitsBackend, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.limits = limits
        self._clock = clock

    def duplicate(self, entry: Entry) -> bool:
        """Give back the credit of an entry the platform found to be an exact duplicate."""
        if entry.credit is None:
            return False
        try:
            self.limits.give_back(entry.credit)
        except Exception as exc:
            log.warning("cannot give a credit back: %s", exc)
            return False
        return True

    def batch_full(self, entry: Entry) -> bool:
        """Give back the strategy credit of an entry refused for a full batch; learn the batch."""
        credit = entry.credit
        if credit is None:
            return False
        try:
            self.limits.give_back(replace(credit, batch=None))
            batch = credit.batch
            if batch is not None and batch.max_images is not None:
                self.limits.learn_batch(batch, batch.max_images, self._clock())
        except Exception as exc:
            log.warning("cannot give a credit back: %s", exc)
            return False
        return True

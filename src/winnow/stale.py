"""Last known good answers of platform lookups, served while the platform cannot be reached.

An inference node asks its platform which workspace an API key belongs to,
a project's type and its active learning configuration. :class:`StaleCache`
keeps each answer for ``ttl`` seconds; after that the next caller asks again.
When the platform cannot answer (``ServiceUnavailableError``: refused,
reset, timed out, 5xx), the last good answer is served instead for up to
``stale_seconds`` after the platform last confirmed it (``None``: no bound),
so requests keep their answers through an outage (stale-while-error).

What callers may rely on:

- a lookup with a usable stale answer waits on the platform at most
  ``refresh_wait`` seconds: the refresh runs on a worker thread, and when it
  has not answered by then the stale answer is served while it completes in
  the background; while one caller refreshes an entry the others get the
  stale answer, and once :class:`PlatformHealth` says the platform is down,
  expired entries are served stale at once and refreshed in the background
  (at most one refresh per entry per ``retry_seconds``). A frozen platform
  therefore never holds a caller that has an answer (a request, the
  collector) longer than ``refresh_wait``, and one without an answer longer
  than one lookup's connect/read timeouts;
- a definitive answer (401, 404, any error other than unavailability) drops
  the entry and is raised: a revoked key stops working on its next lookup;
- a lookup without any answer yet raises the platform's error (a 503 that says
  the platform is unreachable);
- the first success after failures marks the platform up again (logged once).

:class:`FailureLog` logs repeated failures of one lookup once per interval
and counts every one in ``winnow_platform_lookup_errors``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Counter

from winnow.errors import ServiceUnavailableError, WinnowError

log = logging.getLogger("winnow.platform.lookups")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FailureLog:
    """Logs failures of one cause at most once per ``interval`` seconds; counts all of them."""

    def __init__(
        self,
        *,
        interval: float = 60.0,
        errors: Counter | None = None,
        stale: Counter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._errors = errors
        self._stale = stale
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}

    def failed(self, cause: str, exc: BaseException) -> None:
        """Count one failure of ``cause``; log it when the last log line is ``interval`` old."""
        if self._errors is not None:
            self._errors.labels(lookup=cause).inc()
        due, suppressed = self.due(cause)
        if due:
            log.warning(
                "platform lookup %s failed: %s (%d more in the last %.0f s; logged once per "
                "interval, counted in winnow_platform_lookup_errors)",
                cause,
                exc,
                suppressed,
                self.interval,
            )

    def due(self, cause: str) -> tuple[bool, int]:
        """Whether a line about ``cause`` is due now, and how many were held back since the last."""
        now = self._clock()
        with self._lock:
            last, suppressed = self._last.get(cause, (float("-inf"), 0))
            due = now - last >= self.interval
            self._last[cause] = (now, 0) if due else (last, suppressed + 1)
        return due, suppressed

    def served_stale(self, cause: str) -> None:
        """Count one stale answer served for ``cause``."""
        if self._stale is not None:
            self._stale.labels(lookup=cause).inc()


class PlatformHealth:
    """Whether the platform answered the last lookup; shared by every cache of one node."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None

    @property
    def down(self) -> bool:
        """True between a lookup that found the platform unreachable and the next success."""
        return self._down_since is not None

    def failed(self) -> None:
        """Record that a lookup could not reach the platform."""
        with self._lock:
            if self._down_since is None:
                self._down_since = self._clock()
                log.warning("platform unreachable: serving last known answers")

    def succeeded(self) -> None:
        """Record that the platform answered."""
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("platform reachable again after %.1f s", self._clock() - since)


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    confirmed: float  # when the platform last gave this answer
    refreshing: bool = False
    tried: float = float("-inf")  # when a background refresh last started


class StaleCache(Generic[K, V]):
    """Answers of ``load`` per key: fresh for ``ttl``, then stale-while-error (module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        ttl: float,
        stale_seconds: float | None,
        health: PlatformHealth | None = None,
        failures: FailureLog | None = None,
        retry_seconds: float = 1.0,
        refresh_wait: float = 0.2,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.ttl = ttl
        self.stale_seconds = stale_seconds
        self.health = health or PlatformHealth(clock)
        self.failures = failures or FailureLog(clock=clock)
        self.retry_seconds = retry_seconds
        self.refresh_wait = refresh_wait
        self.max_entries = max_entries
        # Refreshes are single-flight per entry, so the pool's queue is bounded by the entries.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"winnow-refresh-{name}")
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The answer for ``key``: cached, freshly loaded, or stale while the platform is down."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.confirmed < self.ttl:
                self._entries.move_to_end(key)
                return entry.value
            if entry is not None and not self._usable(entry, now):
                del self._entries[key]
                entry = None
            if entry is not None:
                if entry.refreshing or self.health.down:
                    if not entry.refreshing and now - entry.tried >= self.retry_seconds:
                        entry.refreshing, entry.tried = True, now
                        try:
                            self._pool.submit(self._refresh_quietly, key, load)
                        except RuntimeError:  # closed (shutting down): no more refreshes
                            entry.refreshing = False
                    self.failures.served_stale(self.name)
                    return entry.value
                entry.refreshing = True  # this caller asks; the others get the stale answer
        if entry is None:
            return self._load_first(key, load)
        try:
            future = self._pool.submit(self._refresh, key, load)
        except RuntimeError:  # closed (shutting down): ask in this thread instead
            try:
                return self._refresh(key, load)
            except ServiceUnavailableError:
                return entry.value
        try:
            return future.result(timeout=self.refresh_wait)
        except (ServiceUnavailableError, FutureTimeout):
            # Unavailable, or too slow to wait for: the refresh finishes in the background.
            self.failures.served_stale(self.name)
            return entry.value

    def _load_first(self, key: K, load: Callable[[], V]) -> V:
        """Load an answer never seen (or no longer usable); it has no stale fallback."""
        try:
            value = load()
        except ServiceUnavailableError as exc:
            self.health.failed()
            self.failures.failed(self.name, exc)
            raise
        except WinnowError:
            self.health.succeeded()
            raise
        self._store(key, value)
        return value

    def fresh(self, key: K) -> V | None:
        """The answer for ``key`` when it is fresh (younger than ``ttl``), else None.

        Never loads, never waits for the platform: a caller that must not block (an
        event loop) uses this and falls back to :meth:`get` in a thread when it is None.
        """
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.confirmed < self.ttl:
                return entry.value
        return None

    def forget(self, key: K) -> None:
        """Drop the entry of ``key`` (no error when there is none)."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def _usable(self, entry: _Entry[V], now: float) -> bool:
        return self.stale_seconds is None or now - entry.confirmed <= self.stale_seconds

    def _refresh(self, key: K, load: Callable[[], V]) -> V:
        """Ask again for an entry marked ``refreshing``; keep it on unavailability, else drop it."""
        try:
            value = load()
        except ServiceUnavailableError as exc:
            self.health.failed()
            self.failures.failed(self.name, exc)
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False
            raise
        except WinnowError:
            self.health.succeeded()  # the platform answered (a revoked key, a deleted project)
            self.forget(key)  # and a definitive answer wins over a stale one
            raise
        except BaseException:
            self.forget(key)
            raise
        self._store(key, value)
        return value

    def close(self) -> None:
        """Stop the refresh threads (a refresh in progress is abandoned, not awaited)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _refresh_quietly(self, key: K, load: Callable[[], V]) -> None:
        # A background refresh has no caller to raise to: failures are already
        # counted (unavailable) or have dropped the entry (definitive answers).
        try:
            self._refresh(key, load)
        except Exception as exc:
            log.debug("background refresh of %s failed: %s", self.name, exc)

    def _store(self, key: K, value: V) -> None:
        self.health.succeeded()
        with self._lock:
            self._entries[key] = _Entry(value, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

"""In-process limits: exact within one process, shared by its threads.

Every process has its own counters: N processes behind a load balancer
collect up to N times each limit. Use ``local://`` to share limits between
the processes of one host, ``redis://`` between hosts.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from winnow.activelearning.limits.base import (
    BATCH_REFUSAL,
    BATCH_TTL_SECONDS,
    BatchCap,
    Budget,
    Credit,
    TakeOutcome,
    TakeResult,
    epoch_seconds,
    source_part,
)

# A window's counters are kept this long after the window ends, so a thread
# that read the clock just before the boundary but got the lock just after it
# still counts into the right (old) window instead of a freshly purged one.
_GRACE_SECONDS = 60
_PURGE_EVERY_SECONDS = 60

_WindowKey = tuple[int, int]  # (window length s, window start epoch)
# (scope, strategy) for a strategy's window, (scope, strategy, source) for a
# per-source one: tuples of different lengths never collide.
_Owner = tuple[str, ...]
_BatchKey = tuple[str, str]  # (scope, batch name)


class MemoryLimits:
    """Limits counted in this process's memory, behind one lock.

    Layout: ``{(window_seconds, window_start_epoch): {owner: count}}``, the
    owner ``(scope, strategy)`` or ``(scope, strategy, source)``, so
    that ended windows are dropped whole (at most once a minute of ``now``),
    and ``{(scope, batch_name): [count, last_touched_epoch]}`` for batches,
    dropped when not touched for ``BATCH_TTL_SECONDS``. Memory stays bounded
    by the number of live strategies and batch names.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[_WindowKey, dict[_Owner, int]] = {}
        self._batches: dict[_BatchKey, list[int]] = {}
        self._next_purge = 0

    def take(
        self,
        candidates: Sequence[Budget],
        batch: BatchCap | None,
        now: datetime,
        source: str | None = None,
    ) -> TakeResult:
        """Take a credit from the first candidate with room, and a batch place, atomically.

        The batch is checked first: a full batch returns ``BATCH_FULL`` and
        consumes nothing. A candidate without limits always has room; one
        with per-source limits needs room in ``source``'s windows too.
        """
        epoch = epoch_seconds(now)
        src = source_part(source)
        with self._lock:
            if epoch >= self._next_purge:
                self._purge(epoch)
            place: list[int] | None = None
            if batch is not None:
                place = self._batches.get((batch.scope, batch.batch_name))
                if place is None:
                    place = self._batches[(batch.scope, batch.batch_name)] = [0, epoch]
                if batch.max_images is not None and place[0] >= batch.max_images:
                    return TakeResult(TakeOutcome.BATCH_FULL, None, BATCH_REFUSAL)
            refused: str | None = None
            for budget in candidates:
                counters, full = self._counters_with_room(budget, epoch, src)
                if full >= 0:
                    if refused is None:
                        refused = budget.refusals[full]
                    continue
                for counter, owner in counters:
                    counter[owner] = counter.get(owner, 0) + 1
                if place is not None:
                    place[0] += 1
                    place[1] = max(place[1], epoch)
                return TakeResult(
                    TakeOutcome.TAKEN, Credit(budget.strategy, budget, batch, now, source)
                )
            return TakeResult(TakeOutcome.STRATEGY_LIMITED, None, refused)

    def give_back(self, credit: Credit) -> None:
        """Return a credit: decrement the windows of ``credit.taken_at`` and its batch place.

        Windows purged since (the credit is older than its window) are left
        alone; counts never go below zero.
        """
        epoch = epoch_seconds(credit.taken_at)
        with self._lock:
            for counter, owner in self._counters(credit.budget, epoch, source_part(credit.source)):
                if counter.get(owner, 0) > 0:
                    counter[owner] -= 1
            if credit.batch is not None:
                place = self._batches.get((credit.batch.scope, credit.batch.batch_name))
                if place is not None and place[0] > 0:
                    place[0] -= 1

    def learn_batch(self, batch: BatchCap, images: int, now: datetime) -> None:
        """Raise the batch's count to ``images`` when it holds fewer; never lower it.

        A node learns this way what the platform already holds (after a
        restart, or what other nodes delivered), so its cap stays exact.
        """
        epoch = epoch_seconds(now)
        key = (batch.scope, batch.batch_name)
        with self._lock:
            place = self._batches.get(key)
            if place is None:
                self._batches[key] = [max(0, images), epoch]
            elif images > place[0]:
                place[0] = images
                place[1] = max(place[1], epoch)

    def close(self) -> None:
        """Nothing to release; counters stay usable."""

    def _counters_with_room(
        self, budget: Budget, epoch: int, source: str
    ) -> tuple[list[tuple[dict[_Owner, int], _Owner]], int]:
        """The ``(counter, owner)`` pairs the budget would consume, and -1; or, when a
        window is full, the index of the first full one in ``budget.refusals``."""
        counters: list[tuple[dict[_Owner, int], _Owner]] = []
        index = 0
        for windows, owner in (
            (budget.windows, (budget.scope, budget.strategy)),
            (budget.source_windows, (budget.scope, budget.strategy, source)),
        ):
            for _, length, value in windows:
                key = (length, epoch - epoch % length)
                counter = self._windows.get(key)
                if counter is None:
                    counter = self._windows[key] = {}
                if counter.get(owner, 0) >= value:
                    return counters, index
                counters.append((counter, owner))
                index += 1
        return counters, -1

    def _counters(
        self, budget: Budget, epoch: int, source: str
    ) -> list[tuple[dict[_Owner, int], _Owner]]:
        """The existing ``(counter, owner)`` pairs a credit of ``budget`` at ``epoch`` counts in."""
        found: list[tuple[dict[_Owner, int], _Owner]] = []
        for windows, owner in (
            (budget.windows, (budget.scope, budget.strategy)),
            (budget.source_windows, (budget.scope, budget.strategy, source)),
        ):
            for _, length, _ in windows:
                counter = self._windows.get((length, epoch - epoch % length))
                if counter is not None:
                    found.append((counter, owner))
        return found

    def _purge(self, epoch: int) -> None:
        """Drop windows that ended more than the grace ago, and idle batch counts."""
        ended = [key for key in self._windows if key[1] + key[0] + _GRACE_SECONDS <= epoch]
        for key in ended:
            del self._windows[key]
        idle = [
            name for name, place in self._batches.items() if place[1] + BATCH_TTL_SECONDS <= epoch
        ]
        for name in idle:
            del self._batches[name]
        self._next_purge = epoch + _PURGE_EVERY_SECONDS

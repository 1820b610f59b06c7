"""The limits backend protocol: one atomic call takes a credit.

A *credit* is permission to collect one datapoint. ``take`` walks the
candidate strategies in order and takes a credit from the first one whose
every window (minutely, hourly, daily, UTC) has room, together with one
place in the batch (``max_batch_images``), all in one atomic step. The
credit can be handed back with ``give_back`` when the datapoint is refused
later (duplicate, full outbox).

Windows are aligned to UTC: a minutely window starts at second 0 of a
minute, hourly at minute 0 of an hour, daily at 00:00 UTC. Times passed in
must be timezone-aware (any zone; they are converted to UTC); naive datetimes
are rejected with ``ValueError`` because their zone is a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol


class Window(StrEnum):
    """Limit windows, aligned to UTC minutes, hours and days."""

    MINUTELY = "minutely"
    HOURLY = "hourly"
    DAILY = "daily"


WINDOW_SECONDS: Final[dict[Window, int]] = {
    Window.MINUTELY: 60,
    Window.HOURLY: 3600,
    Window.DAILY: 86400,
}
"""Length of each window in seconds (UTC days have 86400 POSIX seconds)."""

BATCH_TTL_SECONDS: Final[int] = 400 * 86400
"""A batch count not touched for this long is forgotten (memory) or expires (Redis)."""


def epoch_seconds(now: datetime) -> int:
    """Whole POSIX seconds of an aware datetime; ``ValueError`` for a naive one."""
    if now.tzinfo is None:
        raise ValueError("limits need a timezone-aware datetime (e.g. datetime.now(UTC))")
    return int(now.timestamp() // 1)


def window_start(window: Window, epoch: int) -> int:
    """Epoch second at which the UTC ``window`` containing ``epoch`` starts."""
    length = WINDOW_SECONDS[window]
    return epoch - epoch % length


@dataclass(slots=True, frozen=True)
class Budget:
    """One strategy's limits. ``scope`` namespaces keys (workspace/project/strategy).

    ``windows`` is derived once: one ``(window name, length s, limit)`` per
    window type, the smallest value winning when a type is repeated, so a
    take counts each window once. Build budgets once per configuration, not
    per datapoint.
    """

    scope: str
    strategy: str
    limits: tuple[tuple[Window, int], ...]
    windows: tuple[tuple[str, int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        merged: dict[Window, int] = {}
        for window, value in self.limits:
            known = merged.get(window)
            merged[window] = value if known is None else min(known, value)
        windows = tuple(
            (window.value, WINDOW_SECONDS[window], value) for window, value in merged.items()
        )
        object.__setattr__(self, "windows", windows)


@dataclass(slots=True, frozen=True)
class BatchCap:
    """The batch a datapoint goes to and its cap.

    Places are counted for every batch a credit is taken with, capped or not
    (``max_images`` None), so a cap added later to a running configuration
    sees what the batch already holds.
    """

    scope: str
    batch_name: str
    max_images: int | None


@dataclass(slots=True, frozen=True)
class Credit:
    """A credit taken: which strategy paid, and when (its windows are those of ``taken_at``)."""

    strategy: str
    budget: Budget
    batch: BatchCap | None
    taken_at: datetime


class TakeOutcome(StrEnum):
    """Why ``take`` returned no credit (or that it did)."""

    TAKEN = "taken"
    STRATEGY_LIMITED = "strategy_limited"
    BATCH_FULL = "batch_full"


class LimitsBackend(Protocol):
    """Budget storage. ``memory://`` is exact in one process; ``redis://`` across processes."""

    def take(
        self, candidates: Sequence[Budget], batch: BatchCap | None, now: datetime
    ) -> tuple[TakeOutcome, Credit | None]:
        """Atomically take a credit from the first candidate with room, and a batch place."""
        ...

    def give_back(self, credit: Credit) -> None:
        """Return a credit taken earlier (its windows and its batch place)."""
        ...

    def learn_batch(self, batch: BatchCap, images: int, now: datetime) -> None:
        """Raise the batch's count to ``images`` (what the platform holds); never lower it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

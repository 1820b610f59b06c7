"""The limits backend protocol: one atomic call takes a credit.

A *credit* is permission to collect one datapoint. ``take`` walks the
candidate strategies in order and takes a credit from the first one whose
every window (minutely, hourly, daily, UTC) has room, together with one
place in the batch (``max_batch_images``), all in one atomic step. The
credit can be handed back with ``give_back`` when the datapoint is refused
later (duplicate, full outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Window(StrEnum):
    """Limit windows, aligned to UTC minutes, hours and days."""

    MINUTELY = "minutely"
    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(slots=True, frozen=True)
class Budget:
    """One strategy's limits. ``scope`` namespaces keys (workspace/project/strategy)."""

    scope: str
    strategy: str
    limits: tuple[tuple[Window, int], ...]


@dataclass(slots=True, frozen=True)
class BatchCap:
    """The batch a datapoint goes to and its cap (None: uncapped, not counted)."""

    scope: str
    batch_name: str
    max_images: int | None


@dataclass(slots=True, frozen=True)
class Credit:
    """A credit taken: which strategy paid, and the window starts it was counted in."""

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

    def close(self) -> None:
        """Release connections."""
        ...

"""The limits backend protocol: one atomic call takes a credit.

A *credit* is permission to collect one datapoint. ``take`` walks the
candidate strategies in order and takes a credit from the first one whose
every window (minutely, hourly, daily, UTC) has room, together with one
place in the batch (``max_batch_images``), all in one atomic step. A window
is either the strategy's (shared by every source) or per source (``per:
"source"``: each source has its own count, inside the strategy's windows).
The credit can be handed back with ``give_back`` when the datapoint is
refused later (duplicate, full outbox). Without a credit, the result names
what refused (:attr:`TakeResult.limited_by`).

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


BATCH_REFUSAL: Final[str] = "batch"
"""``TakeResult.limited_by`` when the batch cap refused."""

SOURCE_SUFFIX: Final[str] = "source"
"""Last part of ``limited_by`` for a per-source window: ``"<strategy>:<window>:source"``."""


def _merged(limits: tuple[tuple[Window, int], ...]) -> tuple[tuple[str, int, int], ...]:
    """One ``(window name, length s, limit)`` per window type, the smallest value winning."""
    merged: dict[Window, int] = {}
    for window, value in limits:
        known = merged.get(window)
        merged[window] = value if known is None else min(known, value)
    return tuple((window.value, WINDOW_SECONDS[window], value) for window, value in merged.items())


@dataclass(slots=True, frozen=True)
class Budget:
    """One strategy's limits. ``scope`` namespaces keys (workspace/project/strategy).

    ``limits`` are the strategy's own windows (one count for all sources);
    ``source_limits`` are counted per source (the ``source`` given to
    ``take``), inside the strategy's: a take needs room in both.

    ``windows`` and ``source_windows`` are derived once: one ``(window name,
    length s, limit)`` per window type, the smallest value winning when a
    type is repeated, so a take counts each window once; ``refusals`` names
    them, in that order (``windows`` then ``source_windows``), as
    ``limited_by`` does (``"<strategy>:<window>"``, ``"<strategy>:<window>:source"``).
    Build budgets once per configuration, not per datapoint.
    """

    scope: str
    strategy: str
    limits: tuple[tuple[Window, int], ...]
    source_limits: tuple[tuple[Window, int], ...] = ()
    windows: tuple[tuple[str, int, int], ...] = field(init=False, repr=False, compare=False)
    source_windows: tuple[tuple[str, int, int], ...] = field(init=False, repr=False, compare=False)
    refusals: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        windows = _merged(self.limits)
        source_windows = _merged(self.source_limits)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "source_windows", source_windows)
        refusals = tuple(f"{self.strategy}:{name}" for name, _, _ in windows) + tuple(
            f"{self.strategy}:{name}:{SOURCE_SUFFIX}" for name, _, _ in source_windows
        )
        object.__setattr__(self, "refusals", refusals)


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
    """A credit taken: which strategy paid, and when (its windows are those of ``taken_at``).

    ``source`` is the source it was taken for (its per-source windows are that source's).
    """

    strategy: str
    budget: Budget
    batch: BatchCap | None
    taken_at: datetime
    source: str | None = None


class TakeOutcome(StrEnum):
    """Why ``take`` returned no credit (or that it did)."""

    TAKEN = "taken"
    STRATEGY_LIMITED = "strategy_limited"
    BATCH_FULL = "batch_full"


class TakeResult(tuple[TakeOutcome, Credit | None]):
    """What ``take`` returns: the pair ``(outcome, credit)``, plus ``limited_by``.

    It unpacks (and compares) as the 2-tuple ``(outcome, credit)``;
    ``limited_by`` says what refused when no credit was given:

    - ``"batch"``: the batch cap (``outcome`` is ``BATCH_FULL``);
    - ``"<strategy>:<window>"``: a full window of the *first* candidate (the
      first matched strategy), e.g. ``"baseline:hourly"``;
    - ``"<strategy>:<window>:source"``: that strategy's per-source window of
      the source the take was for;
    - None when a credit was taken, or when there were no candidates.

    When several windows of the first candidate are full, the first in
    ``Budget.refusals`` order is named (the strategy's windows in
    configuration order, then the per-source ones).
    """

    limited_by: str | None

    def __new__(
        cls, outcome: TakeOutcome, credit: Credit | None, limited_by: str | None = None
    ) -> TakeResult:
        result = super().__new__(cls, (outcome, credit))
        result.limited_by = limited_by
        return result

    @property
    def outcome(self) -> TakeOutcome:
        """TAKEN, STRATEGY_LIMITED or BATCH_FULL."""
        return self[0]

    @property
    def credit(self) -> Credit | None:
        """The credit taken, or None."""
        return self[1]

    def __getnewargs__(self) -> tuple[TakeOutcome, Credit | None, str | None]:
        # pickle and copy rebuild it through __new__ with these (tuple's would pass one tuple)
        return self[0], self[1], self.limited_by

    def __repr__(self) -> str:
        return f"TakeResult({self[0]!r}, {self[1]!r}, limited_by={self.limited_by!r})"


def source_part(source: str | None) -> str:
    """The name per-source windows count ``source`` under: a take without one is ``""``."""
    return source or ""


class LimitsBackend(Protocol):
    """Budget storage. ``memory://`` is exact in one process; ``local://`` across the
    processes of one host; ``redis://`` across processes and hosts."""

    def take(
        self,
        candidates: Sequence[Budget],
        batch: BatchCap | None,
        now: datetime,
        source: str | None = None,
    ) -> TakeResult:
        """Atomically take a credit from the first candidate with room, and a batch place.

        A candidate has room when every window of its own and every
        per-source window of ``source`` has room (``None`` counts as the
        source ``""``).
        """
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

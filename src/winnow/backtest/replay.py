"""The limits walk: sampled records, in time order, through the budgets and the batch cap.

The rules are those of ``winnow.activelearning.limits.memory.MemoryLimits.take``
on the records' own timestamps (whole UTC seconds, windows aligned to UTC
minutes, hours and days):

1. the batch the record would go to (``batch_name`` of its time) is checked
   first: at ``max_batch_images`` the record is ``batch_full`` and nothing is
   consumed;
2. then the sampled strategies in configuration order: the first whose every
   window has room (its own windows and, for a ``per: "source"`` limit, the
   record's source's) pays: one credit in each of its windows and one place in
   the batch. None with room: ``limited``, by the first full window of the
   first sampled strategy (``"<strategy>:<window>"``, ``":source"`` appended
   for a per-source window).

Budgets and batches start empty at the start of the replay. Only sampled
records enter the walk; it is one tight loop, with a fast path for a record
whose every sampled strategy is known to be spent until a later time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from winnow.activelearning.limits.base import WINDOW_SECONDS, Window

TAKEN: Final = 0
LIMITED: Final = 1
BATCH_FULL: Final = 2


@dataclass(frozen=True, slots=True)
class Allowance:
    """One window of a strategy: at most ``value`` per ``window``, per source or overall."""

    window: Window
    value: int
    per_source: bool = False

    @property
    def label(self) -> str:
        """``hourly`` or ``hourly:source``, as the log's ``limited_by`` names it."""
        return f"{self.window.value}:source" if self.per_source else self.window.value


def allowances(limits: Sequence[Any]) -> tuple[Allowance, ...]:
    """A strategy's limits merged as ``Budget`` merges them: the smallest value per window type,
    the strategy's own windows first (in the order their types first appear), then the
    per-source ones (``per: "source"``): the order ``limited_by`` names the first full one in."""
    merged: dict[tuple[bool, Window], int] = {}
    for limit in limits:
        key = (getattr(limit, "per", None) == "source", Window(limit.type))
        known = merged.get(key)
        merged[key] = int(limit.value) if known is None else min(known, int(limit.value))
    ordered = sorted(merged.items(), key=lambda item: item[0][0])  # stable: own, then per source
    return tuple(Allowance(window, value, per) for (per, window), value in ordered)


@dataclass(slots=True)
class Walk:
    """What the walk decided for each record it was given (parallel arrays)."""

    outcome: npt.NDArray[np.int8]  # TAKEN, LIMITED or BATCH_FULL
    paid: npt.NDArray[np.int16]  # the paying strategy's index, -1 when none
    limited_by: list[str | None]  # "<strategy>:<window>[:source]" of LIMITED records


def walk(
    *,
    names: Sequence[str],
    budgets: Sequence[tuple[Allowance, ...]],
    sampled: npt.NDArray[np.int64],
    seconds: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int32],
    batches: npt.NDArray[np.int64],
    cap: int | None,
) -> Walk:
    """Walk the sampled records in the given (time) order.

    ``sampled``: a bit set per record of the strategies (by index) that sampled
    it, at least one. ``seconds``: its POSIX second; ``sources``: its source code;
    ``batches``: a key of the batch it goes to (records of one key share a batch).
    """
    n = len(sampled)
    outcome = np.zeros(n, dtype=np.int8)
    paid = np.full(n, -1, dtype=np.int16)
    limited_by: list[str | None] = [None] * n
    # per strategy, per allowance: [window length, value, per_source, window start, count]
    state: list[list[list[int]]] = [
        [[WINDOW_SECONDS[a.window], a.value, int(a.per_source), -1, 0] for a in budget]
        for budget in budgets
    ]
    labels = [[f"{names[s]}:{a.label}" for a in budget] for s, budget in enumerate(budgets)]
    per_source: list[dict[tuple[int, int], list[int]]] = [{} for _ in budgets]
    candidates: dict[int, list[int]] = {}
    blocked_until = [0] * len(budgets)  # strategy spent (overall windows) until this second
    blocked_why = [""] * len(budgets)
    blocked_bits = 0
    next_unblock = 1 << 62
    batch_count: dict[int, int] = {}
    full_batch = None

    for i, (bits, t, src, batch) in enumerate(
        zip(sampled.tolist(), seconds.tolist(), sources.tolist(), batches.tolist(), strict=True)
    ):
        if cap is not None:
            if batch == full_batch:
                outcome[i] = BATCH_FULL
                continue
            if batch_count.get(batch, 0) >= cap:
                full_batch = batch
                outcome[i] = BATCH_FULL
                continue
        if t >= next_unblock:
            blocked_bits, next_unblock = _still_blocked(blocked_until, t)
        if bits & ~blocked_bits == 0:  # every sampled strategy is spent: fast path
            first = (bits & -bits).bit_length() - 1
            outcome[i] = LIMITED
            limited_by[i] = blocked_why[first]
            continue
        order_of = candidates.get(bits)
        if order_of is None:
            order_of = candidates[bits] = [s for s in range(len(budgets)) if bits >> s & 1]
        payer, why, spent = _first_with_room(
            order_of, blocked_bits, state, per_source, t, src, labels, blocked_until, blocked_why
        )
        if spent:  # overall windows found full: those strategies are spent until they end
            blocked_bits |= spent
            next_unblock = min(
                next_unblock, *(blocked_until[s] for s in order_of if spent >> s & 1)
            )
        if payer < 0:
            outcome[i] = LIMITED
            limited_by[i] = why
            continue
        _charge(state[payer], per_source[payer], t, src)
        paid[i] = payer
        if cap is not None:
            batch_count[batch] = batch_count.get(batch, 0) + 1
    return Walk(outcome, paid, limited_by)


def _first_with_room(
    order: list[int],
    blocked_bits: int,
    state: list[list[list[int]]],
    per_source: list[dict[tuple[int, int], list[int]]],
    t: int,
    src: int,
    labels: list[list[str]],
    blocked_until: list[int],
    blocked_why: list[str],
) -> tuple[int, str | None, int]:
    """The first strategy of ``order`` with room at ``t`` (-1: none), the first full window's
    label, and the bits of strategies found spent by an overall window (noted in
    ``blocked_until`` / ``blocked_why``)."""
    why = None
    spent = 0
    for s in order:
        if blocked_bits >> s & 1:
            if why is None:
                why = blocked_why[s]
            continue
        full = _full(state[s], per_source[s], t, src)
        if full < 0:
            return s, why, spent
        if why is None:
            why = labels[s][full]
        length, _, per = state[s][full][:3]
        if not per:
            blocked_until[s] = t - t % length + length
            blocked_why[s] = labels[s][full]
            spent |= 1 << s
    return -1, why, spent


def _still_blocked(blocked_until: list[int], t: int) -> tuple[int, int]:
    """The bit set of strategies still spent at ``t``, and when the first of them recovers."""
    bits, soonest = 0, 1 << 62
    for s, until in enumerate(blocked_until):
        if until > t:
            bits |= 1 << s
            soonest = min(soonest, until)
    return bits, soonest


def _charge(
    windows: list[list[int]], own: dict[tuple[int, int], list[int]], t: int, src: int
) -> None:
    """Count one credit at second ``t`` in each window of the paying strategy."""
    for window in windows:
        start = t - t % window[0]
        if window[2]:
            entry = own.get((src, window[0]))
            if entry is None or entry[0] != start:
                own[(src, window[0])] = [start, 1]
            else:
                entry[1] += 1
        elif window[3] != start:
            window[3], window[4] = start, 1
        else:
            window[4] += 1


def _full(windows: list[list[int]], own: dict[tuple[int, int], list[int]], t: int, src: int) -> int:
    """The index of the first full window at second ``t`` for source ``src``, or -1."""
    for k, (length, value, per, start, count) in enumerate(windows):
        current = t - t % length
        if per:
            entry = own.get((src, length))
            used = entry[1] if entry is not None and entry[0] == current else 0
        else:
            used = count if start == current else 0
        if used >= value:
            return k
    return -1

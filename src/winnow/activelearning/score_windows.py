"""Rolling windows of recent uncertainty scores: what ``top_fraction`` compares against.

An ``uncertainty`` strategy with ``top_fraction: f`` takes the most uncertain
fraction ``f`` of recent traffic: each scored prediction is ranked within the
last ``window`` scores of the same (scope, strategy), itself included, and
taken when it lies in the top ``f`` of them. Exactly, with the window holding
``n`` scores (this one included), ``g`` of them strictly greater than this
score ``s`` and ``e`` equal to it (``e >= 1``), so ``s`` spans the upper-rank
interval ``[g/n, (g+e)/n]``:

- ``s == 0``: never taken (nothing uncertain was seen);
- ``(g + e) <= f*n``: taken (the whole interval is inside the top ``f``);
- ``g >= f*n``: not taken;
- otherwise the share ``p = (f*n - g) / e`` of the tie is taken, without
  randomness: ``p`` is added to the window's ``carry`` and the score is taken
  when the carry reaches 1 (then 1 is subtracted). Over a run of equal scores
  exactly the share ``p`` is taken, so the yield stays ``f`` even when many
  predictions score the same.

The score enters the window before it is ranked; the oldest score leaves once
the window is full. Until ``window`` scores were seen, the ranks are among
those there are. The window answers "the top ``f`` of the last ``window``
predictions", so when the scores drift the threshold follows within about a
window. This is the one piece of state sampling has: given the sequence of
scores a strategy saw, the decisions are a pure function of it.

Bounds (one structure per process, owned by whoever samples, e.g. the
collector): windows are kept per ``(scope, strategy name)``, at most
``max_scores`` scores in all (default 500,000, about 40 bytes each: 20 MB at
most, 500 windows of the default size); the window
used least recently is dropped first. A window is started afresh when the
strategy's scoring changes (``measure``, ``aggregate``, ``window``,
``conditions``); a change of ``top_fraction`` keeps it. Thread-safe. Each
process has its own windows (with ``--workers N`` every worker ranks its
own share of the traffic).
"""

from __future__ import annotations

import bisect
import collections
import threading
from array import array
from collections.abc import Hashable

DEFAULT_MAX_SCORES = 500_000


class ScoreWindow:
    """The last ``size`` scores of one (scope, strategy), sorted and in arrival order."""

    __slots__ = ("carry", "fill", "position", "ring", "signature", "size", "sorted")

    def __init__(self, size: int, signature: Hashable = None) -> None:
        self.size = size
        self.signature = signature
        self.ring = array("d")  # arrival order; a ring once full
        self.sorted: list[float] = []  # a list: bisect and insert are fastest on it
        self.position = 0  # the oldest score's index in ``ring`` once full
        self.fill = 0
        self.carry = 0.0

    def __len__(self) -> int:
        return self.fill

    def observe(self, score: float, fraction: float) -> bool:
        """Add ``score`` and say whether it is in the top ``fraction`` (rule: module docstring)."""
        ordered = self.sorted
        if self.fill == self.size:
            oldest = self.ring[self.position]
            del ordered[bisect.bisect_left(ordered, oldest)]
            self.ring[self.position] = score
            self.position = (self.position + 1) % self.size
        else:
            self.ring.append(score)
            self.fill += 1
        at = bisect.bisect_right(ordered, score)
        ordered.insert(at, score)  # after its equals: ordered[at] is this score
        if score <= 0.0:
            return False
        n = self.fill
        greater = n - at - 1
        target = fraction * n
        if greater >= target:
            return False
        if at == 0 or ordered[at - 1] < score:
            equal = 1  # the usual case: no tie, no second search
        else:
            equal = at + 1 - bisect.bisect_left(ordered, score, 0, at)
        if greater + equal <= target:
            return True
        self.carry += (target - greater) / equal
        if self.carry >= 1.0:
            self.carry -= 1.0
            return True
        return False


class ScoreWindows:
    """Score windows by key, bounded in total scores (least recently used dropped first)."""

    def __init__(self, max_scores: int = DEFAULT_MAX_SCORES) -> None:
        self.max_scores = max_scores
        self._windows: collections.OrderedDict[Hashable, ScoreWindow] = collections.OrderedDict()
        self._held = 0  # sum of the windows' sizes (their capacity, not their fill)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._windows)

    def observe(
        self, key: Hashable, score: float, fraction: float, size: int, signature: Hashable = None
    ) -> bool:
        """Add ``score`` to the window of ``key`` and say whether it is in the top ``fraction``.

        A window whose ``size`` or ``signature`` differs from those given is
        replaced by an empty one (the scores are not comparable any more).
        """
        with self._lock:
            window = self._windows.get(key)
            if window is None or window.size != size or window.signature != signature:
                window = self._replace(key, window, size, signature)
            else:
                self._windows.move_to_end(key)
            return window.observe(score, fraction)

    def window(self, key: Hashable) -> ScoreWindow | None:
        """The window of ``key``, if one is kept (for inspection and tests)."""
        with self._lock:
            return self._windows.get(key)

    def _replace(
        self, key: Hashable, old: ScoreWindow | None, size: int, signature: Hashable
    ) -> ScoreWindow:
        if old is not None:
            del self._windows[key]
            self._held -= old.size
        while self._windows and self._held + size > self.max_scores:
            _, dropped = self._windows.popitem(last=False)
            self._held -= dropped.size
        window = ScoreWindow(size, signature)
        self._windows[key] = window
        self._held += size
        return window

"""The rolling windows behind ``top_fraction``: steady yield on long streams, ties, bounds."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from winnow.activelearning.score_windows import ScoreWindow, ScoreWindows

STREAM = 100_000
Scores = Callable[[random.Random, int], float]


def uniform(rng: random.Random, i: int) -> float:
    return rng.random()


def skewed(rng: random.Random, i: int) -> float:
    return rng.random() ** 4  # most predictions confident, a long tail of uncertain ones


def bimodal(rng: random.Random, i: int) -> float:
    return rng.gauss(0.15, 0.03) if rng.random() < 0.8 else rng.gauss(0.7, 0.1)


def coarse(rng: random.Random, i: int) -> float:
    return rng.choice((0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.9))  # rounded scores: many ties


def drifting(rng: random.Random, i: int) -> float:
    # the scene drifts: the typical score climbs from 0.3 to 0.7 (4 standard deviations)
    return min(1.0, max(1e-6, rng.gauss(0.3 + 0.4 * i / STREAM, 0.1)))


def step(rng: random.Random, i: int) -> float:
    # a new camera angle halfway: every score jumps
    return rng.random() * (0.3 if i < STREAM // 2 else 1.0)


DISTRIBUTIONS = {
    "uniform": uniform,
    "skewed": skewed,
    "bimodal": bimodal,
    "coarse": coarse,
    "drifting": drifting,
    "step": step,
}


def run(scores: Scores, fraction: float, window: int = 1000, seed: int = 3) -> list[bool]:
    rng = random.Random(seed)
    windows = ScoreWindows()
    return [
        windows.observe(("ws/p", "u"), max(scores(rng, i), 1e-9), fraction, window)
        for i in range(STREAM)
    ]


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.3])
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_yield_is_within_2_points_of_top_fraction_on_100000_scores(
    name: str, fraction: float
) -> None:
    taken = run(DISTRIBUTIONS[name], fraction)
    assert abs(sum(taken) / STREAM - fraction) <= 0.02
    # and steady: every block of 10,000 predictions, drift or not; after a sudden
    # step the window needs a window's length to catch up (at most `window` extra)
    for start in range(0, STREAM, 10_000):
        block = taken[start : start + 10_000]
        if name == "step" and start == STREAM // 2:
            assert 0 <= sum(block) - fraction * len(block) <= 1000
            continue
        assert abs(sum(block) / len(block) - fraction) <= 0.02, (name, start)


def test_a_fixed_threshold_would_not_keep_the_yield() -> None:
    """What top_fraction is for: on the drifting stream a fixed quantile drifts away."""
    rng = random.Random(3)
    scores = [drifting(rng, i) for i in range(STREAM)]
    threshold = sorted(scores[:1000])[900]  # the top 10% of the first window
    late = scores[-10_000:]
    assert sum(s >= threshold for s in late) / len(late) > 0.9


def test_ties_take_exactly_their_share() -> None:
    window = ScoreWindow(100)
    taken = [window.observe(0.5, 0.25) for _ in range(1000)]
    assert sum(taken) == 250
    # spread out, not in a burst
    assert all(sum(taken[i : i + 8]) == 2 for i in range(200, 900, 8))


def test_a_score_of_zero_is_never_taken_but_is_ranked() -> None:
    window = ScoreWindow(10)
    assert not any(window.observe(0.0, 1.0) for _ in range(20))
    assert len(window) == 10
    # zeros fill the bottom: a positive score tops them
    assert window.observe(0.01, 0.1)


def test_rank_counts_the_score_itself_and_forgets_the_oldest() -> None:
    window = ScoreWindow(3)
    for score in (0.9, 0.8, 0.7):
        window.observe(score, 0.34)
    # window (0.8, 0.7, 0.6): 0.6 is the lowest of three
    assert not window.observe(0.6, 0.34)
    # window (0.7, 0.6, 0.75): 0.75 is the highest; 0.9 and 0.8 are gone
    assert window.observe(0.75, 0.34)
    assert sorted(window.sorted) == [0.6, 0.7, 0.75]


def test_a_changed_scoring_or_size_starts_a_new_window() -> None:
    windows = ScoreWindows()
    for _ in range(5):
        windows.observe("k", 0.5, 0.5, 100, ("entropy", "max"))
    first = windows.window("k")
    assert first is not None and len(first) == 5
    windows.observe("k", 0.5, 0.1, 100, ("entropy", "max"))  # top_fraction changed: kept
    assert windows.window("k") is first and len(first) == 6
    windows.observe("k", 0.5, 0.1, 100, ("margin", "max"))
    second = windows.window("k")
    assert second is not first and second is not None and len(second) == 1
    windows.observe("k", 0.5, 0.1, 50, ("margin", "max"))
    third = windows.window("k")
    assert third is not None and third.size == 50


def test_windows_are_bounded_in_scores_least_recently_used_first() -> None:
    windows = ScoreWindows(max_scores=250)
    for key in ("a", "b"):
        windows.observe(key, 0.5, 0.1, 100)
    windows.observe("a", 0.5, 0.1, 100)  # a used last
    windows.observe("c", 0.5, 0.1, 100)  # 300 > 250: b goes
    assert windows.window("b") is None
    assert windows.window("a") is not None and windows.window("c") is not None
    assert len(windows) == 2


def test_decisions_are_a_function_of_the_scores_seen() -> None:
    rng = random.Random(11)
    scores = [rng.random() for _ in range(5000)]
    first, second = ScoreWindow(500), ScoreWindow(500)
    assert [first.observe(s, 0.1) for s in scores] == [second.observe(s, 0.1) for s in scores]
    assert math.isclose(first.carry, second.carry)

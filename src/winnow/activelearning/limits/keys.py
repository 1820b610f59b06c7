"""Counter names shared by the Redis and local backends (one layout, documented in limits.md).

- ``{prefix}:limit:{scope}:{strategy}:{window}:{window_start_epoch}``: the
  credits a strategy took in one UTC window;
- ``{prefix}:limit:{scope}:{strategy}:{window}:{window_start_epoch}:{source}``:
  those of one source, for a per-source window;
- ``{prefix}:batch:{scope}:{batch_name}``: places taken in a batch.

Every component is percent-escaped for ``%`` and ``:``, so distinct names
(and a strategy's key and a source's) never collide.
"""

from __future__ import annotations

from functools import lru_cache

from winnow.activelearning.limits.base import BatchCap, Budget, source_part


def part(text: str) -> str:
    """A key component with ``%`` and ``:`` escaped, so distinct names never collide."""
    return text.replace("%", "%25").replace(":", "%3A")


@lru_cache(maxsize=4096)
def _limit_base(prefix: str, scope: str, strategy: str) -> str:
    return f"{prefix}:limit:{part(scope)}:{part(strategy)}:"


@lru_cache(maxsize=4096)
def _source(source: str | None) -> str:
    return part(source_part(source))


def window_keys(
    prefix: str, budget: Budget, epoch: int, source: str | None
) -> list[tuple[str, int, int]]:
    """``(key, limit, window length s)`` of every window a take of ``budget`` at ``epoch``
    counts in, in ``budget.refusals`` order: its own windows, then ``source``'s."""
    base = _limit_base(prefix, budget.scope, budget.strategy)
    found: list[tuple[str, int, int]] = []
    for window, length, value in budget.windows:
        start = epoch - epoch % length
        found.append((f"{base}{window}:{start}", value, length))
    if budget.source_windows:
        src = _source(source)
        for window, length, value in budget.source_windows:
            start = epoch - epoch % length
            found.append((f"{base}{window}:{start}:{src}", value, length))
    return found


def batch_key(prefix: str, batch: BatchCap) -> str:
    """The counter of the places taken in ``batch``."""
    return f"{prefix}:batch:{part(batch.scope)}:{part(batch.batch_name)}"

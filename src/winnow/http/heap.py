"""Garbage-collector settings for a long-running server process.

A server's heap after start-up (modules, routes, models, caches) lives as
long as the process; left in the collector's generations, every full
collection walks all of it again, and under load the default gen-0 threshold
(700 allocations) runs a collection every few requests. ``settle_heap``,
called once the services are up, collects what start-up left, moves every
surviving object to the permanent generation (``gc.freeze``: never scanned
again, and their pages stay shared after a fork) and raises the thresholds,
so collections are rare and only walk what requests allocate. Reference
counting still frees everything at once; only cycles wait for a collection.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 20, 20)
"""Gen-0 allocations, then gen-0 and gen-1 collections, between collections of the next."""


def settle_heap(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Collect, freeze what survives (``gc.freeze``) and set ``thresholds``; call once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)

"""Limits backends chosen by URL: ``memory://`` or ``redis://``."""

from __future__ import annotations

from urllib.parse import urlsplit

from winnow.activelearning.limits.base import (
    BatchCap,
    Budget,
    Credit,
    LimitsBackend,
    TakeOutcome,
    Window,
)
from winnow.activelearning.limits.memory import MemoryLimits
from winnow.errors import ConfigurationError

__all__ = [
    "BatchCap",
    "Budget",
    "Credit",
    "LimitsBackend",
    "MemoryLimits",
    "TakeOutcome",
    "Window",
    "from_url",
]

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def from_url(url: str) -> LimitsBackend:
    """The limits backend a URL names.

    ``memory://`` -> :class:`MemoryLimits` (exact in this process only);
    ``redis://``, ``rediss://``, ``unix://`` -> ``RedisLimits`` (shared).
    Any other scheme raises ``ConfigurationError`` naming the allowed ones.
    """
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:  # e.g. "redis://[::1" (an unclosed IPv6 bracket)
        raise ConfigurationError(f"invalid limits URL {url!r}: {exc}") from None
    if scheme == "memory":
        return MemoryLimits()
    if scheme in REDIS_SCHEMES:
        from winnow.activelearning.limits.redis import RedisLimits

        return RedisLimits(url)
    raise ConfigurationError(
        f"unsupported limits URL {url!r}: use memory://, redis://, rediss:// or unix://"
    )

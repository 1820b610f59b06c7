"""Limits backends chosen by URL: ``memory://``, ``local://`` or ``redis://``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from winnow.activelearning.limits.base import (
    BatchCap,
    Budget,
    Credit,
    LimitsBackend,
    TakeOutcome,
    TakeResult,
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
    "TakeResult",
    "Window",
    "from_url",
]

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
LOCAL_FILE_NAME = "limits.db"
"""The file of ``local://`` (no path) in the data directory."""


def from_url(url: str, data_dir: Path | None = None) -> LimitsBackend:
    """The limits backend a URL names.

    ``memory://`` -> :class:`MemoryLimits` (exact in this process only);
    ``local:///path/to/limits.db`` -> ``LocalLimits`` (exact across the
    processes of this host that use the same file); ``local://`` is
    ``<data_dir>/limits.db``; ``redis://``, ``rediss://``, ``unix://`` ->
    ``RedisLimits`` (shared by hosts). Any other scheme raises
    ``ConfigurationError`` naming the allowed ones; so does a ``local://``
    with a host (``local://x/y``: write ``local:///x/y``), or without a path
    when no ``data_dir`` is given; a path ending in ``/`` is a folder (its
    ``limits.db``). ``local://`` creates its file (and
    folders) here; ``redis://`` connects only at the first take.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
    except ValueError as exc:  # e.g. "redis://[::1" (an unclosed IPv6 bracket)
        raise ConfigurationError(f"invalid limits URL {url!r}: {exc}") from None
    if scheme == "memory":
        return MemoryLimits()
    if scheme == "local":
        from winnow.activelearning.limits.local import LocalLimits

        return LocalLimits(_local_path(url, parts.netloc, unquote(parts.path), data_dir))
    if scheme in REDIS_SCHEMES:
        from winnow.activelearning.limits.redis import RedisLimits

        return RedisLimits(url)
    raise ConfigurationError(
        f"unsupported limits URL {url!r}: use memory://, local://, redis://, rediss:// or unix://"
    )


def _local_path(url: str, host: str, path: str, data_dir: Path | None) -> Path:
    """The file a ``local://`` URL names."""
    if host:
        raise ConfigurationError(
            f"invalid limits URL {url!r}: local:// takes an absolute path and no host"
            f" (local:///{host}{path} or local:// for <data_dir>/{LOCAL_FILE_NAME})"
        )
    if path in ("", "/"):
        if data_dir is None:
            raise ConfigurationError(
                f"limits URL {url!r} names no file and no data directory is known:"
                " use local:///path/to/limits.db"
            )
        return data_dir / LOCAL_FILE_NAME
    if path.endswith("/"):  # a folder
        return Path(path) / LOCAL_FILE_NAME
    return Path(path)

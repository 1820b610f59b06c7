"""Labeling batch names from ``batching_strategy``, always in UTC.

``recreation_interval`` decides how often a new batch starts:

- ``never``   -> ``{prefix}``
- ``daily``   -> ``{prefix}_{YYYY}_{MM}_{DD}`` of today
- ``weekly``  -> the same, of this week's Monday
- ``monthly`` -> the same, of the 1st of this month

"Today" is the UTC date: an aware ``now`` in any zone is converted to UTC
first. A naive ``now`` is rejected with ``ValueError`` (its zone would be a
guess, and the reference's mix of local time and UTC is what this avoids).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum


class RecreationInterval(StrEnum):
    """How often a new labeling batch is started."""

    NEVER = "never"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


def batch_start(interval: str, now: datetime) -> date | None:
    """The UTC date the current batch started on (None for ``never``).

    Raises ``ValueError`` for a naive ``now`` or an unknown interval.
    """
    kind = _interval(interval)
    if now.tzinfo is None:
        raise ValueError("batch names need a timezone-aware datetime (e.g. datetime.now(UTC))")
    today = now.astimezone(UTC).date()
    if kind is RecreationInterval.NEVER:
        return None
    if kind is RecreationInterval.DAILY:
        return today
    if kind is RecreationInterval.WEEKLY:
        return today - timedelta(days=today.weekday())
    return today.replace(day=1)


def batch_name(prefix: str, interval: str, now: datetime) -> str:
    """The batch a datapoint collected at ``now`` goes to.

    ``{prefix}`` for ``never``, else ``{prefix}_{YYYY}_{MM}_{DD}`` of the UTC
    date the current batch started on (see :func:`batch_start`).
    """
    start = batch_start(interval, now)
    if start is None:
        return prefix
    return f"{prefix}_{start.year:04d}_{start.month:02d}_{start.day:02d}"


def _interval(interval: str) -> RecreationInterval:
    try:
        return RecreationInterval(interval)
    except ValueError:
        allowed = ", ".join(item.value for item in RecreationInterval)
        raise ValueError(
            f"unknown recreation_interval {interval!r}: expected one of {allowed}"
        ) from None

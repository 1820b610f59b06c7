"""Batch names: prefix and the UTC start date of the current batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from winnow.activelearning.batching import batch_name, batch_start

TOKYO = timezone(timedelta(hours=9))
NEW_YORK = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("interval", "now", "expected"),
    [
        # never: the prefix alone, whatever the date
        ("never", datetime(2026, 3, 4, 12, 0, tzinfo=UTC), "al"),
        ("never", datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "al"),
        # daily: today's UTC date, zero-padded
        ("daily", datetime(2026, 3, 4, 0, 0, tzinfo=UTC), "al_2026_03_04"),
        ("daily", datetime(2026, 3, 4, 23, 59, 59, tzinfo=UTC), "al_2026_03_04"),
        ("daily", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "al_2026_12_31"),
        ("daily", datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "al_2027_01_01"),
        ("daily", datetime(2028, 2, 29, 8, 0, tzinfo=UTC), "al_2028_02_29"),
        # weekly: this week's Monday (2026-11-23 is a Monday)
        ("weekly", datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "al_2026_11_23"),
        ("weekly", datetime(2026, 11, 26, 15, 0, tzinfo=UTC), "al_2026_11_23"),
        ("weekly", datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC), "al_2026_11_23"),  # Sunday
        ("weekly", datetime(2026, 11, 30, 0, 0, tzinfo=UTC), "al_2026_11_30"),  # next Monday
        # weekly across a month and a year boundary (2027-01-01 is a Friday)
        ("weekly", datetime(2026, 12, 2, 9, 0, tzinfo=UTC), "al_2026_11_30"),
        ("weekly", datetime(2027, 1, 1, 9, 0, tzinfo=UTC), "al_2026_12_28"),
        ("weekly", datetime(2027, 1, 3, 23, 0, tzinfo=UTC), "al_2026_12_28"),
        ("weekly", datetime(2027, 1, 4, 0, 0, tzinfo=UTC), "al_2027_01_04"),
        # monthly: the 1st of this month
        ("monthly", datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "al_2026_11_01"),
        ("monthly", datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "al_2026_11_01"),
        ("monthly", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "al_2026_12_01"),
        ("monthly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "al_2027_01_01"),
        ("monthly", datetime(2028, 2, 29, 12, 0, tzinfo=UTC), "al_2028_02_01"),
        # non-UTC aware datetimes are converted to UTC first
        ("daily", datetime(2026, 3, 5, 8, 0, tzinfo=TOKYO), "al_2026_03_04"),  # 23:00 UTC on 4th
        ("daily", datetime(2026, 3, 4, 20, 0, tzinfo=NEW_YORK), "al_2026_03_05"),  # 01:00 UTC
        ("weekly", datetime(2026, 11, 30, 8, 0, tzinfo=TOKYO), "al_2026_11_23"),  # Sun in UTC
        ("weekly", datetime(2026, 11, 29, 20, 0, tzinfo=NEW_YORK), "al_2026_11_30"),  # Mon UTC
        ("monthly", datetime(2027, 1, 1, 8, 0, tzinfo=TOKYO), "al_2026_12_01"),  # Dec 31 UTC
        ("monthly", datetime(2026, 12, 31, 19, 30, tzinfo=NEW_YORK), "al_2027_01_01"),
    ],
)
def test_batch_name(interval: str, now: datetime, expected: str) -> None:
    assert batch_name("al", interval, now) == expected


def test_batch_name_keeps_the_prefix_verbatim() -> None:
    now = datetime(2026, 5, 6, tzinfo=UTC)
    assert batch_name("my_batches-v2", "daily", now) == "my_batches-v2_2026_05_06"
    assert batch_name("my_batches-v2", "never", now) == "my_batches-v2"


def test_weekly_start_is_always_a_monday_within_the_last_seven_days() -> None:
    start = datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    for hours in range(0, 24 * 60, 7):
        now = start + timedelta(hours=hours)
        monday = batch_start("weekly", now)
        assert monday is not None
        assert monday.weekday() == 0
        assert 0 <= (now.date() - monday).days < 7


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        batch_name("al", "daily", datetime(2026, 3, 4, 12, 0))


def test_unknown_interval_is_rejected_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="never, daily, weekly, monthly"):
        batch_name("al", "hourly", datetime(2026, 3, 4, tzinfo=UTC))

"""Shadow model counts: what inference nodes report, and the daily disagreement rate.

Each row is one inference process's totals for (project, UTC day, shadow
model): :func:`record_shadow_counts` keeps the larger of the stored and the
reported figures, so a report delivered twice or out of order counts once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winnow.errors import BadRequestError
from winnow.platform.schema import Project, ShadowCount, utcnow

MAX_COUNTS = 1000
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COUNT_MAX = 2**62


@dataclass(slots=True, frozen=True)
class DailyDisagreement:
    """Runs and disagreements of one shadow model on one UTC day, summed over nodes."""

    day: str
    model_id: str
    runs: int
    disagreements: int

    @property
    def rate(self) -> float | None:
        """Disagreements per run, None without runs."""
        return self.disagreements / self.runs if self.runs else None


def _text(entry: dict[str, Any], key: str, where: str, max_length: int) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise BadRequestError(f"{where}.{key}: must be a string of 1-{max_length} characters")
    if any(ord(c) < 32 for c in value):
        raise BadRequestError(f"{where}.{key}: must not contain control characters")
    return value


def _count(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _COUNT_MAX:
        raise BadRequestError(f"{where}.{key}: must be an integer >= 0")
    return value


def check_shadow_counts(body: object) -> list[tuple[str, str, str, int, int]]:
    """``{"counts": [{"day", "node", "model_id", "runs", "disagreements"}, ...]}`` checked:
    (day, node, model_id, runs, disagreements) tuples; 400 naming the first bad field."""
    if not isinstance(body, dict) or not isinstance(body.get("counts"), list):
        raise BadRequestError("counts: must be a list of count objects")
    counts = body["counts"]
    if len(counts) > MAX_COUNTS:
        raise BadRequestError(f"counts: at most {MAX_COUNTS} entries")
    checked = []
    for i, entry in enumerate(counts):
        where = f"counts[{i}]"
        if not isinstance(entry, dict):
            raise BadRequestError(f"{where}: must be an object")
        day = _text(entry, "day", where, 10)
        try:
            valid_day = bool(_DAY.match(day)) and datetime.strptime(day, "%Y-%m-%d") is not None
        except ValueError:
            valid_day = False
        if not valid_day:
            raise BadRequestError(f"{where}.day: must be a date YYYY-MM-DD (UTC)")
        node = _text(entry, "node", where, 64)
        model_id = _text(entry, "model_id", where, 128)
        runs = _count(entry, "runs", where)
        disagreements = _count(entry, "disagreements", where)
        if disagreements > runs:
            raise BadRequestError(f"{where}.disagreements: must not exceed runs ({runs})")
        checked.append((day, node, model_id, runs, disagreements))
    return checked


def record_shadow_counts(
    *, session: Session, project: Project, counts: Sequence[tuple[str, str, str, int, int]]
) -> None:
    """Store checked counts (:func:`check_shadow_counts`), each row keeping the larger figures."""
    for day, node, model_id, runs, disagreements in counts:
        row = session.get(ShadowCount, (project.id, day, node, model_id))
        if row is None:
            session.add(
                ShadowCount(
                    project_id=project.id,
                    day=day,
                    node=node,
                    model_id=model_id,
                    runs=runs,
                    disagreements=disagreements,
                    updated_at=utcnow(),
                )
            )
            session.flush()
        elif runs > row.runs or (runs == row.runs and disagreements > row.disagreements):
            row.runs, row.disagreements, row.updated_at = runs, disagreements, utcnow()
    session.flush()


def daily_disagreement(
    *, session: Session, project: Project, days: int, today: datetime | None = None
) -> list[DailyDisagreement]:
    """The last ``days`` UTC days' runs and disagreements per shadow model, newest day first."""
    now = (today or datetime.now(UTC)).astimezone(UTC)
    first = (now - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    rows = session.execute(
        select(
            ShadowCount.day,
            ShadowCount.model_id,
            func.sum(ShadowCount.runs),
            func.sum(ShadowCount.disagreements),
        )
        .where(ShadowCount.project_id == project.id, ShadowCount.day >= first)
        .group_by(ShadowCount.day, ShadowCount.model_id)
        .order_by(ShadowCount.day.desc(), ShadowCount.model_id)
    ).all()
    return [DailyDisagreement(day, model_id, int(r), int(d)) for day, model_id, r, d in rows]

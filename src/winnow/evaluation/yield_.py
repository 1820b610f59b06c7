"""Which sampling rule finds the model's mistakes: the yield of each strategy and config version.

For each (strategy, config version): ``stored`` images, ``labeled`` ones
(labeled or reviewed, with a human annotation), ``compared`` (labeled with a
served prediction to compare to), ``corrected`` (compared images whose human
annotation differs from the prediction: detection family a box unmatched at
IoU 0.5 or a changed class, classification a changed label),
``corrected_share`` (corrected / compared) and ``mean_corrections`` (changes
per compared image). ``days`` gives the same per UTC day of receipt and
strategy, for the overview's chart. Uploads (no strategy) count as ``(upload)``.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.errors import PredictionFormatError
from winnow.evaluation.matching import classification_corrections, detection_corrections
from winnow.evaluation.samples import DETECTION_FAMILY, boxes_from_body, classes_from_body
from winnow.platform.schema import Annotation, Image, Project
from winnow.states import LABELED_STATUSES, AnnotationKind

NO_STRATEGY = "(upload)"
LABELED = LABELED_STATUSES


@dataclass(slots=True)
class _Tally:
    stored: int = 0
    labeled: int = 0
    compared: int = 0
    corrected: int = 0
    corrections: int = 0

    def json(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "labeled": self.labeled,
            "compared": self.compared,
            "corrected": self.corrected,
            "corrected_share": self.corrected / self.compared if self.compared else None,
            "mean_corrections": self.corrections / self.compared if self.compared else None,
        }


def _corrections(project_type: str, truth: tuple[str, str], served: tuple[str, str]) -> int | None:
    try:
        if project_type in DETECTION_FAMILY:
            return detection_corrections(
                boxes_from_body(truth[1], truth[0]), boxes_from_body(served[1], served[0])
            )
        return classification_corrections(
            classes_from_body(truth[1], truth[0]), classes_from_body(served[1], served[0])
        )
    except (PredictionFormatError, ValueError):
        return None


class _Memo:
    """Correction counts already computed, per database, keyed by the annotations compared.

    Annotations are append-only (a save adds a row, nothing updates or deletes
    one), so ``(project type, human annotation id, prediction annotation id)``
    names one comparison for good: a new label is a new id, and a stale entry
    can never be read. Entries live as long as the engine; at most
    :data:`MEMO_LIMIT` per engine (the oldest dropped first).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_engine: weakref.WeakKeyDictionary[Any, dict[tuple[str, int, int], int | None]]
        self.by_engine = weakref.WeakKeyDictionary()

    def of(self, engine: Any) -> dict[tuple[str, int, int], int | None]:
        with self.lock:
            return self.by_engine.setdefault(engine, {})


MEMO_LIMIT = 1_000_000
BODY_CHUNK = 500  # ids per IN (...) when reading the bodies not yet compared
_MEMO = _Memo()


def _newest_pairs(session: Session, project: Project) -> dict[int, tuple[int, int | None]]:
    """Per labeled image: (newest human annotation id, first prediction id or None)."""
    human: dict[int, int] = {}
    served: dict[int, int] = {}
    rows = session.execute(
        select(Annotation.image_id, Annotation.kind, Annotation.id)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project.id, Image.status.in_(LABELED))
        .order_by(Annotation.id)
    )
    for image_id, kind, annotation_id in rows:
        if kind == AnnotationKind.HUMAN:
            human[image_id] = annotation_id
        elif kind == AnnotationKind.PREDICTION and image_id not in served:
            served[image_id] = annotation_id  # the first: what the model answered
    return {i: (h, served.get(i)) for i, h in human.items()}


def _correction_counts(
    session: Session, project: Project, pairs: dict[int, tuple[int, int | None]]
) -> dict[int, int | None]:
    """Corrections per image of ``pairs`` (None: nothing to compare), from the memo or computed."""
    memo = _MEMO.of(session.get_bind())
    out: dict[int, int | None] = {}
    missing: dict[int, tuple[int, int]] = {}
    for image_id, (h, p) in pairs.items():
        if p is None:
            out[image_id] = None
            continue
        key = (project.type, h, p)
        if key in memo:
            out[image_id] = memo[key]
        else:
            missing[image_id] = (h, p)
    if not missing:
        return out
    wanted = sorted({a for pair in missing.values() for a in pair})
    bodies: dict[int, tuple[str, str]] = {}
    for start in range(0, len(wanted), BODY_CHUNK):
        chunk = wanted[start : start + BODY_CHUNK]
        for annotation_id, fmt, body in session.execute(
            select(Annotation.id, Annotation.format, Annotation.body).where(
                Annotation.id.in_(chunk)
            )
        ):
            bodies[annotation_id] = (fmt, body)
    computed = {
        image_id: _corrections(project.type, bodies[h], bodies[p])
        for image_id, (h, p) in missing.items()
    }
    with _MEMO.lock:
        overflow = len(memo) + len(computed) - MEMO_LIMIT
        for stale in list(memo)[: max(overflow, 0)]:
            del memo[stale]
        for image_id, (h, p) in missing.items():
            memo[(project.type, h, p)] = computed[image_id]
    out.update(computed)
    return out


def rule_yield(
    *, session: Session, project: Project, days: int = 30, today: date | None = None
) -> dict[str, Any]:
    """The yield report: ``rules`` (one entry per strategy and config version) and ``days``.

    Reads the images and the ids of their annotations; annotation bodies only
    for comparisons this process has not made yet (see :class:`_Memo`), so a
    page showing it costs a few queries once its labels have been compared.
    """
    end = today or datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    images = session.execute(
        select(
            Image.id, Image.strategy, Image.config_version, Image.status, Image.received_at
        ).where(Image.project_id == project.id)
    ).all()
    corrections = _correction_counts(session, project, _newest_pairs(session, project))
    rules: dict[tuple[str, int | None], _Tally] = {}
    axis = [start + timedelta(days=i) for i in range(days)]
    daily: dict[str, list[_Tally]] = {}
    for row in images:
        strategy = row.strategy or NO_STRATEGY
        tallies = [rules.setdefault((strategy, row.config_version), _Tally())]
        received = row.received_at.date() if row.received_at else None
        if received is not None and start <= received <= end:
            series = daily.setdefault(strategy, [_Tally() for _ in axis])
            tallies.append(series[(received - start).days])
        for tally in tallies:
            tally.stored += 1
        if row.status not in LABELED or row.id not in corrections:
            continue
        changes = corrections[row.id]
        for tally in tallies:
            tally.labeled += 1
            if changes is not None:
                tally.compared += 1
                tally.corrected += changes > 0
                tally.corrections += changes
    return {
        "project": project.name,
        "rules": [
            {"strategy": strategy, "config_version": version, **tally.json()}
            for (strategy, version), tally in sorted(
                rules.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)
            )
        ],
        "days": {
            "dates": [d.isoformat() for d in axis],
            "strategies": {
                name: [t.json() for t in series] for name, series in sorted(daily.items())
            },
        },
    }

"""Which sampling rule finds the model's mistakes: the yield of each strategy and config version.

For each (strategy, config version): ``stored`` images, ``labeled`` ones
(labeled or reviewed, with a human annotation), ``compared`` (labeled with a
served prediction to compare to), ``corrected`` (compared images whose human
annotation differs from the prediction: detection family a box unmatched at
IoU 0.5 or a changed class, classification a changed label),
``corrected_share`` (corrected / compared) and ``mean_corrections`` (changes
per compared image). ``days`` gives the same per UTC day of receipt and
strategy, for the overview's chart. Uploads (no strategy) count as ``(upload)``.

Each comparison is made once per process and remembered by the annotation ids
it compared (:class:`_Memo`), so the overview stays a few queries however many
labeled images a project holds.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from winnow.errors import PredictionFormatError
from winnow.evaluation.flat import flat_of_bodies, match_all
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
    one), so ``(human annotation id, prediction annotation id)`` names one
    comparison for good (ids are of one image, so of one project and its type,
    which cannot change): a new label is a new id, and a stale entry
    can never be read. Entries live as long as the engine; at most
    :data:`MEMO_LIMIT` per engine (the oldest dropped first).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_engine: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], int | None]]
        self.by_engine = weakref.WeakKeyDictionary()

    def of(self, engine: Any) -> dict[tuple[int, int], int | None]:
        with self.lock:
            return self.by_engine.setdefault(engine, {})


MEMO_LIMIT = 1_000_000  # ~100 MB at most per database
BODY_CHUNK = 500  # ids per IN (...) when reading the bodies not yet compared
_MEMO = _Memo()
_UNKNOWN = object()


def _newest_pairs(session: Session, project: Project) -> dict[int, tuple[int, int | None]]:
    """Per labeled image: (newest human annotation id, first prediction id or None).

    One aggregate row per labeled image (Core rows, no ORM: this runs on every overview).
    """
    human = func.max(case((Annotation.kind == AnnotationKind.HUMAN.value, Annotation.id)))
    served = func.min(case((Annotation.kind == AnnotationKind.PREDICTION.value, Annotation.id)))
    rows = session.connection().execute(
        select(Annotation.image_id, human, served)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project.id, Image.status.in_(LABELED))
        .group_by(Annotation.image_id)
    )
    return {i: (h, p) for i, h, p in rows if h is not None}


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
        found = memo.get((h, p), _UNKNOWN)  # one lookup: another thread may evict meanwhile
        if found is _UNKNOWN:
            missing[image_id] = (h, p)
        else:
            out[image_id] = found  # type: ignore[assignment]
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
    if project.type in DETECTION_FAMILY:
        computed = _detection_counts({i: (bodies[h], bodies[p]) for i, (h, p) in missing.items()})
    else:
        computed = {
            image_id: _corrections(project.type, bodies[h], bodies[p])
            for image_id, (h, p) in missing.items()
        }
    with _MEMO.lock:
        overflow = len(memo) + len(computed) - MEMO_LIMIT
        for stale in list(memo)[: max(overflow, 0)]:
            del memo[stale]
        for image_id, (h, p) in missing.items():
            memo[(h, p)] = computed[image_id]
    out.update(computed)
    return out


def _detection_counts(
    pairs: dict[int, tuple[tuple[str, str], tuple[str, str]]],
) -> dict[int, int | None]:
    """:func:`detection_corrections` of every (truth, served) body pair at once, by image id.

    The same class-agnostic greedy matching, on flat rows (see
    :mod:`winnow.evaluation.flat`); None for a pair whose body is not detection JSON.
    """
    ids = list(pairs)
    flat = flat_of_bodies([(i, 0, 0) for i in ids], [pairs[i] for i in ids])
    n = flat.image_ids.size
    matched_p, matched_t = match_all(flat.truth, flat.predicted, n).agnostic
    changed = flat.predicted.cls[matched_p] != flat.truth.cls[matched_t]
    counts = (
        np.bincount(flat.predicted.image, minlength=n)
        + np.bincount(flat.truth.image, minlength=n)
        - 2 * np.bincount(flat.predicted.image[matched_p], minlength=n)
        + np.bincount(flat.predicted.image[matched_p][changed], minlength=n)
    )
    out: dict[int, int | None] = dict.fromkeys(ids)
    out.update(zip(flat.image_ids.tolist(), counts.tolist(), strict=True))
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
    images = (
        session.connection()
        .execute(
            select(
                Image.id, Image.strategy, Image.config_version, Image.status, Image.received_at
            ).where(Image.project_id == project.id)
        )
        .all()
    )
    corrections = _correction_counts(session, project, _newest_pairs(session, project))
    rules: dict[tuple[str, int | None], _Tally] = {}
    axis = [start + timedelta(days=i) for i in range(days)]
    daily: dict[str, list[_Tally]] = {}
    # Images counted by what the tallies need, then folded: one pass of plain tuples.
    groups: Counter[tuple[str, int | None, int | None, bool, int | None]] = Counter()
    for image_id, strategy, version, status, received_at in images:
        day = None
        if received_at is not None:
            offset = (received_at.date() - start).days
            day = offset if 0 <= offset < days else None
        labeled = status in LABELED and image_id in corrections
        changes = corrections[image_id] if labeled else None
        groups[(strategy or NO_STRATEGY, version, day, labeled, changes)] += 1
    for (strategy, version, day, labeled, changes), n in groups.items():
        tallies = [rules.setdefault((strategy, version), _Tally())]
        if day is not None:
            if strategy not in daily:
                daily[strategy] = [_Tally() for _ in axis]
            tallies.append(daily[strategy][day])
        for tally in tallies:
            tally.stored += n
            if labeled:
                tally.labeled += n
                if changes is not None:
                    tally.compared += n
                    tally.corrected += n * (changes > 0)
                    tally.corrections += n * changes
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

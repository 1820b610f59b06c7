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


def rule_yield(
    *, session: Session, project: Project, days: int = 30, today: date | None = None
) -> dict[str, Any]:
    """The yield report: ``rules`` (one entry per strategy and config version) and ``days``."""
    end = today or datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    images = {
        row.id: row
        for row in session.execute(
            select(
                Image.id, Image.strategy, Image.config_version, Image.status, Image.received_at
            ).where(Image.project_id == project.id)
        )
    }
    truth: dict[int, tuple[str, str]] = {}
    served: dict[int, tuple[str, str]] = {}
    rows = session.execute(
        select(Annotation.image_id, Annotation.kind, Annotation.format, Annotation.body)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project.id, Image.status.in_(LABELED))
        .order_by(Annotation.id)
    )
    for image_id, kind, fmt, body in rows:
        if kind == AnnotationKind.HUMAN:
            truth[image_id] = (fmt, body)
        elif kind == AnnotationKind.PREDICTION and image_id not in served:
            served[image_id] = (fmt, body)  # the first: what the model answered
    rules: dict[tuple[str, int | None], _Tally] = {}
    axis = [start + timedelta(days=i) for i in range(days)]
    daily: dict[str, list[_Tally]] = {}
    for image_id, row in images.items():
        strategy = row.strategy or NO_STRATEGY
        tallies = [rules.setdefault((strategy, row.config_version), _Tally())]
        received = row.received_at.date() if row.received_at else None
        if received is not None and start <= received <= end:
            series = daily.setdefault(strategy, [_Tally() for _ in axis])
            tallies.append(series[(received - start).days])
        for tally in tallies:
            tally.stored += 1
        if row.status not in LABELED or image_id not in truth:
            continue
        changes = None
        if image_id in served:
            changes = _corrections(project.type, truth[image_id], served[image_id])
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

"""What the serving side hands the prediction log: one :class:`Entry` per served image.

Kept apart from the Arrow schema (``winnow.predlog.record``) so that serving, and a
node that has served nothing yet, load no pyarrow: it is imported at the first
flush that has records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from winnow.predictions import Prediction


@dataclass(slots=True)
class Entry:
    """One served image waiting in the log's buffer (nothing converted yet).

    ``workspace`` may be None: it is then resolved from ``api_key`` when the
    buffer is flushed (the log's ``workspace_of``), never on the serving path.
    ``api_key`` never reaches a segment; it authenticates the segment's upload.
    """

    time: datetime
    api_key: str
    workspace: str | None
    project: str
    source: str
    model_id: str
    inference_id: str
    width: int
    height: int
    prediction: Prediction
    outcome: str
    matched: Sequence[str] = ()
    limited_by: str | None = None
    paid: str | None = None
    config_version: int | None = None

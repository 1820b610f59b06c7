"""What the collector decided about one prediction, told to an optional ``decisions`` sink.

``Collector(decisions=sink)`` calls ``sink(image, prediction, context, decision)``
once after every ``process`` (the prediction log records it; see
``winnow.predlog``). The sink runs on the collector's thread, after the
response; it must return quickly and never raise (an exception is counted
and logged once, the decision stands).

``limited_by`` (``limited`` / ``batch_full`` only) is what ``limits.take``
says refused (``TakeResult.limited_by``): ``"batch"`` for a full batch;
``"<strategy>:<window>"`` (``minutely`` / ``hourly`` / ``daily``) of the first
matched strategy, ``"<strategy>:<window>:source"`` for a per-source limit. A
backend that does not say gets ``"<first matched strategy>:?"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from winnow.activelearning.datapoint import CollectionContext
from winnow.images import CapturedImage
from winnow.predictions import Prediction
from winnow.states import DatapointOutcome

UNKNOWN_WINDOW = "?"


@dataclass(slots=True, frozen=True)
class Decision:
    """One decision: its outcome and why.

    ``time`` is the collector's clock when it started deciding (the time its
    limit windows and batch name used); ``workspace`` and ``config_version``
    are None when no configuration was read (collection switched off);
    ``matched`` names the strategies whose sampling matched, in configuration
    order; ``paid`` the strategy whose credit was taken (``queued`` only).
    """

    time: datetime
    outcome: DatapointOutcome
    workspace: str | None = None
    matched: tuple[str, ...] = ()
    limited_by: str | None = None
    paid: str | None = None
    config_version: int | None = None


@dataclass(slots=True)
class DecisionTrace:
    """What ``Collector.process`` learns on its way, turned into a :class:`Decision` at the end."""

    time: datetime
    workspace: str | None = None
    matched: tuple[str, ...] = ()
    limited_by: str | None = None
    paid: str | None = None
    config_version: int | None = None
    stage: list[str] = field(default_factory=lambda: ["config"])

    def decision(self, outcome: DatapointOutcome) -> Decision:
        """The decision with ``outcome`` (``limited_by`` and ``paid`` kept only where they apply)."""
        limited = outcome in (DatapointOutcome.LIMITED, DatapointOutcome.BATCH_FULL)
        return Decision(
            time=self.time,
            outcome=outcome,
            workspace=self.workspace,
            matched=self.matched,
            limited_by=self.limited_by if limited else None,
            paid=self.paid if outcome is DatapointOutcome.QUEUED else None,
            config_version=self.config_version,
        )


class DecisionSink(Protocol):
    """Told every decision of a collector (see the module docstring)."""

    def __call__(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        decision: Decision,
    ) -> None:
        """Take note of one decision; quick, and never raises."""
        ...

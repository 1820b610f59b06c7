"""A backtest as the API, the CLI and the web editor ask for it: parsed, validated, read, run.

``run(platform, workspace, project, ...)`` validates the configuration with
``validate_config`` (the field errors of a save, as ``InvalidConfigError``),
checks the window, reads the project's records of the window and replays
them (:func:`winnow.backtest.engine.backtest`). Times are ISO 8601 (a time
without a zone is UTC) or relative to now: ``30m``, ``24h``, ``7d``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from winnow.activelearning.config import ActiveLearningConfig, validate_config
from winnow.backtest.engine import backtest
from winnow.backtest.source import read_window
from winnow.errors import BadRequestError

if TYPE_CHECKING:
    from winnow.platform.schema import Project, Workspace
    from winnow.platform.service import Platform

MAX_DAYS: Final = 31
"""The longest window a backtest replays."""
MAX_SEED: Final = 2**63 - 1
_RELATIVE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_time(name: str, value: object, now: datetime) -> datetime:
    """``value`` as an aware UTC datetime; BadRequestError naming ``name`` when it is none."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{name}: must be an ISO 8601 time or a duration like 24h")
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        try:
            return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        except OverflowError:
            raise BadRequestError(f"{name}: {text} reaches before year 1") from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"{name}: must be an ISO 8601 time (2026-12-01T10:00:00Z) or a duration like 24h; "
            f"got {text[:40]!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window(since: object, until: object, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``(since, until)`` checked: since before until, at most :data:`MAX_DAYS` apart.

    ``until`` defaults to now, ``since`` to a day before ``until``.
    """
    now = now or datetime.now(UTC)
    end = now if until is None else parse_time("until", until, now)
    start = end - timedelta(days=1) if since is None else parse_time("since", since, now)
    if start >= end:
        raise BadRequestError("since: must be before until")
    if end - start > timedelta(days=MAX_DAYS):
        raise BadRequestError(f"since: the window is at most {MAX_DAYS} days")
    return start, end


def seed_of(value: object) -> int:
    """The draw seed: an integer from 0 to 2**63 - 1 (default 0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise BadRequestError("seed: must be an integer from 0 to 9223372036854775807")
    return value


def run(
    platform: Platform,
    *,
    workspace: Workspace,
    project: Project,
    config: ActiveLearningConfig | object,
    since: datetime,
    until: datetime,
    seed: int = 0,
) -> dict[str, Any]:
    """The backtest of ``config`` (a document, validated here, or a validated model)."""
    model = config if isinstance(config, ActiveLearningConfig) else validate_config(config)
    table = read_window(
        platform, workspace=workspace.name, project=project.name, since=since, until=until
    )
    result = backtest(
        table,
        model,
        since=since,
        until=until,
        seed=seed,
        project_type=project.type,
        workspace=workspace.name,
    )
    result["project"] = project.name
    result["warnings"] = list(model.warnings)
    return result

"""Where the backtest and the drift charts read prediction records: the platform's log.

:func:`read_window` and :func:`window_query` are the one place that touches the
prediction log's reader (``winnow.predlog.query``: DuckDB over the Parquet
segments of the platform's ``predictions.records`` store, local folder or S3
alike, no ORM).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from winnow.predlog.query import query, read_records

if TYPE_CHECKING:
    from winnow.platform.service import Platform


def read_window(
    platform: Platform, *, workspace: str, project: str, since: datetime, until: datetime
) -> pa.Table:
    """The records of ``project`` in ``workspace`` with ``since <= time < until``, in time order."""
    return read_records(
        platform.predictions.records,
        workspace=workspace,
        since=since,
        until=until,
        project=project,
    )


def window_query(
    platform: Platform, *, workspace: str, project: str, since: datetime, until: datetime
) -> Callable[[str, Sequence[Any]], pa.Table]:
    """A function running DuckDB SQL over the view ``records``: the workspace's records of
    ``[since, until)`` (the caller's SQL filters by ``project``)."""
    store = platform.predictions.records

    def run(sql: str, params: Sequence[Any]) -> pa.Table:
        return query(store, sql, workspace=workspace, since=since, until=until, params=params)

    return run

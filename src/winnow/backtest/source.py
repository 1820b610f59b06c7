"""Where the backtest and the drift charts read prediction records: the platform's log.

:func:`read_window` is the one place that touches the prediction log's
reader (``winnow.predlog.query.read_records`` over the platform's
``predictions.records`` store, DuckDB over Parquet segments, local or S3).
Until that reader is part of this tree, a stand-in reads the same layout from
the local blob folder with ``pyarrow.dataset``:
``<blob folder>/predictions/<workspace>/<YYYY-MM-DD>/<segment>.parquet``.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from winnow.backtest.records import RECORD_SCHEMA
from winnow.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from winnow.platform.service import Platform

PREFIX = "predictions"
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def workspace_dir(workspace: str) -> str:
    """The folder of a workspace's segments (its name, or a digest of an unsafe one)."""
    if _SAFE.match(workspace):
        return workspace
    return "ws-" + hashlib.sha256(workspace.encode()).hexdigest()[:32]


def read_window(
    platform: Platform, *, workspace: str, project: str, since: datetime, until: datetime
) -> pa.Table:
    """The records of ``project`` in ``workspace`` with ``since <= time < until``, in time order."""
    store = getattr(getattr(platform, "predictions", None), "records", None)
    if store is not None:
        query: Any = importlib.import_module("winnow.predlog.query")
        table: pa.Table = query.read_records(
            store, workspace=workspace, since=since, until=until, project=project
        )
        return table
    return _read_local(
        _log_folder(platform.settings.resolved_blob_url),
        workspace=workspace,
        project=project,
        since=since,
        until=until,
    )


def _log_folder(blob_url: str) -> Path:
    parsed = urlparse(blob_url)
    if parsed.scheme not in ("", "file"):
        raise ServiceUnavailableError(
            "the prediction log of this platform is not readable here (blob store "
            f"{parsed.scheme}://): records are read from a local blob folder"
        )
    return Path(parsed.path if parsed.scheme == "file" else blob_url) / PREFIX


def _read_local(
    root: Path, *, workspace: str, project: str, since: datetime, until: datetime
) -> pa.Table:
    folder = root / workspace_dir(workspace)
    first = since.astimezone(UTC).date() - timedelta(days=1)
    last = until.astimezone(UTC).date()
    files: list[str] = []
    if folder.is_dir():
        for day in sorted(folder.iterdir()):
            try:
                moment = datetime.strptime(day.name, "%Y-%m-%d").date()
            except ValueError:
                continue
            if first <= moment <= last:
                files.extend(str(p) for p in sorted(day.glob("*.parquet")))
    if not files:
        return RECORD_SCHEMA.empty_table()
    dataset = ds.dataset(files, schema=RECORD_SCHEMA, format="parquet")
    time = ds.field("time")
    table = dataset.to_table(
        filter=(ds.field("workspace") == workspace)
        & (ds.field("project") == project)
        & (time >= pa.scalar(since.astimezone(UTC), RECORD_SCHEMA.field("time").type))
        & (time < pa.scalar(until.astimezone(UTC), RECORD_SCHEMA.field("time").type))
    )
    return table.take(pc.sort_indices(table, [("time", "ascending")]))


def window_query(
    platform: Platform, *, workspace: str, project: str, since: datetime, until: datetime
) -> Callable[[str, Sequence[Any]], pa.Table]:
    """A function running DuckDB SQL over the view ``records``: the workspace's records of
    ``[since, until)`` (the caller's SQL filters by project)."""
    store = getattr(getattr(platform, "predictions", None), "records", None)
    if store is not None:
        query: Any = importlib.import_module("winnow.predlog.query")

        def run_in_log(sql: str, params: Sequence[Any]) -> pa.Table:
            result: pa.Table = query.query(
                store, sql, workspace=workspace, since=since, until=until, params=params
            )
            return result

        return run_in_log
    table = read_window(platform, workspace=workspace, project=project, since=since, until=until)

    def run_in_memory(sql: str, params: Sequence[Any]) -> pa.Table:
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            con.register("records", table)
            result: pa.Table = con.sql(sql, params=list(params) or None).to_arrow_table()
            return result

    return run_in_memory

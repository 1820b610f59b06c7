"""Reading the prediction log: DuckDB over the Parquet segments, local folder or S3 alike.

The reader API (stable; the backtest and the drift charts use it):

- :class:`RecordStore` ``(filesystem, root)``: where segments live, as a
  ``pyarrow.fs`` filesystem (``LocalFileSystem`` or ``S3FileSystem``) and a root
  path in it. The platform's layout is
  ``<root>/<workspace_dir(workspace)>/<YYYY-MM-DD>/<segment name>.parquet`` (the
  day of the segment's first record, UTC); :meth:`RecordStore.local` also reads
  a flat folder of segments (a node's ``predlog/closed``).
- :func:`read_records` ``(store, workspace=..., since=, until=, project=,
  inference_id=, columns=)``: the matching records as one ``pyarrow.Table`` of
  :data:`winnow.predlog.record.SCHEMA` (or the ``columns`` asked for), in time
  order. ``since`` is inclusive, ``until`` exclusive.
- :func:`query` ``(store, sql, workspace=..., since=, until=, params=)``: any
  DuckDB SQL over the view ``records`` (already restricted to the workspace
  and window), returned as a ``pyarrow.Table``: aggregates run in DuckDB, not
  in Python.

Nothing here downloads a DuckDB extension: files are listed and opened through
``pyarrow.dataset`` (so the same code reads local files and S3) and DuckDB scans
the Arrow dataset, with filters pushed down into the Parquet reads. Only day
folders that can hold the window are listed at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from winnow.predlog.record import SCHEMA

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def workspace_dir(workspace: str) -> str:
    """The folder of a workspace's segments: its name when made of safe characters, else a
    digest of it (so any workspace name makes one valid blob key)."""
    if _SAFE.match(workspace):
        return workspace
    return "ws-" + hashlib.sha256(workspace.encode()).hexdigest()[:32]


def segment_day(name: str) -> str:
    """The UTC day (``YYYY-MM-DD``) a segment name starts on (its ``%Y%m%dT%H%M%S`` part)."""
    for part in name.split("."):
        if re.fullmatch(r"\d{8}T\d{6}", part):
            return f"{part[:4]}-{part[4:6]}-{part[6:8]}"
    raise ValueError(f"segment name {name!r} holds no start time")


@dataclass(slots=True, frozen=True)
class RecordStore:
    """Where segments are: a pyarrow filesystem and a root path in it (see the module)."""

    filesystem: pafs.FileSystem
    root: str
    flat: bool = False  # True: segments lie directly in root (a node's folder)

    @classmethod
    def local(cls, path: str, *, flat: bool = False) -> RecordStore:
        """Segments under a local folder (the platform's layout, or ``flat``)."""
        return cls(pafs.LocalFileSystem(), str(path), flat=flat)

    def files(
        self,
        *,
        workspace: str | None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[str]:
        """The segment files that may hold records of ``workspace`` (every workspace when
        None) in ``[since, until)``, by path in the filesystem, sorted."""
        if self.flat:
            return self._parquet(self.root, recursive=False)
        if workspace is None:
            folders = [
                info.path
                for info in self._list(self.root, recursive=False)
                if info.type == pafs.FileType.Directory
            ]
        else:
            folders = [f"{self.root.rstrip('/')}/{workspace_dir(workspace)}"]
        first = since.astimezone(UTC).date() - timedelta(days=1) if since else None
        last = until.astimezone(UTC).date() if until else None
        found = []
        for folder in folders:
            for info in self._list(folder, recursive=False):
                name = info.base_name
                if info.type != pafs.FileType.Directory or not _DAY.match(name):
                    continue
                # A segment started the day before may run past midnight: keep one day more.
                day = date.fromisoformat(name)
                if (first is not None and day < first) or (last is not None and day > last):
                    continue
                found.extend(self._parquet(info.path, recursive=False))
        return sorted(found)

    def _list(self, path: str, *, recursive: bool) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
        return list(self.filesystem.get_file_info(selector))

    def _parquet(self, path: str, *, recursive: bool) -> list[str]:
        return sorted(
            info.path
            for info in self._list(path, recursive=recursive)
            if info.type == pafs.FileType.File
            and info.base_name.endswith(".parquet")
            and not info.base_name.startswith(".")
        )

    def dataset(
        self,
        *,
        workspace: str | None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ds.Dataset:
        """A ``pyarrow.dataset`` over the files :meth:`files` names (possibly empty)."""
        files = self.files(workspace=workspace, since=since, until=until)
        if not files:
            return ds.dataset(SCHEMA.empty_table())
        return ds.dataset(files, schema=SCHEMA, format="parquet", filesystem=self.filesystem)


def query(
    store: RecordStore,
    sql: str,
    *,
    workspace: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    params: Sequence[Any] = (),
) -> pa.Table:
    """Run DuckDB ``sql`` over the view ``records``: the records of ``workspace`` (None: all)
    with ``since <= time < until``; ``params`` fill the ``?`` of ``sql``."""
    dataset = store.dataset(workspace=workspace, since=since, until=until)
    # A view takes no prepared parameters: the values are quoted as SQL literals here.
    where = []
    if workspace is not None:
        where.append(f"workspace = {_literal(workspace)}")
    if since is not None:
        where.append(f"time >= {_time_literal(since)}")
    if until is not None:
        where.append(f"time < {_time_literal(until)}")
    condition = " AND ".join(where) or "TRUE"
    import duckdb  # here: a process that never queries never loads it

    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("segments", dataset)
        con.execute(f"CREATE TEMP VIEW records AS SELECT * FROM segments WHERE {condition}")
        result: pa.Table = con.sql(sql, params=list(params) or None).to_arrow_table()
        return result


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _time_literal(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("since/until must carry a time zone")
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"TIMESTAMPTZ '{text}+00'"


def read_records(
    store: RecordStore,
    *,
    workspace: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    project: str | None = None,
    inference_id: str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The records of ``workspace`` in ``[since, until)`` (of ``project``, of one
    ``inference_id`` when given), in time order, as a table of ``columns`` (all by default)."""
    names = list(columns) if columns else list(SCHEMA.names)
    unknown = [name for name in names if name not in SCHEMA.names]
    if unknown:
        raise ValueError(f"unknown record column {unknown[0]!r}")
    where = []
    params: list[Any] = []
    if project is not None:
        where.append("project = ?")
        params.append(project)
    if inference_id is not None:
        where.append("inference_id = ?")
        params.append(inference_id)
    select = ", ".join(f'"{name}"' for name in names)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    table = query(
        store,
        f"SELECT {select} FROM records {condition} ORDER BY time",
        workspace=workspace,
        since=since,
        until=until,
        params=params,
    )
    return table.cast(pa.schema([SCHEMA.field(name) for name in names]))

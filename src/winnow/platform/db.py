"""Engines and sessions for the platform database (SQLite embedded, PostgreSQL by URL).

SQLite writes are serialized on purpose: :meth:`Database.write` holds one
process-wide lock per database and opens the transaction with
``BEGIN IMMEDIATE`` so that concurrent writers (threads here, other processes
on the same file) queue instead of failing with "database is locked" halfway
through. Readers never wait thanks to WAL. On PostgreSQL writes run
concurrently; functions that must serialize on a row use ``SELECT ... FOR
UPDATE`` (see :func:`winnow.platform.store.datapoints.register_datapoint`).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from winnow.errors import ConfigurationError

_IMMEDIATE: contextvars.ContextVar[bool] = contextvars.ContextVar("winnow_immediate", default=False)
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``: ``sqlite:///path`` or ``postgresql+psycopg://...``.

    SQLite gets WAL, foreign keys and a busy timeout on every connection.
    Raises ConfigurationError for any other database, or a missing driver.
    """
    try:
        return _make_engine(url)
    except (ArgumentError, ValueError) as exc:  # a URL SQLAlchemy cannot parse (bad port...)
        raise ConfigurationError(f"invalid database URL {url!r}: {exc}") from None


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "PostgreSQL needs the psycopg driver: pip install 'winnow[postgres]'"
            ) from None
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    raise ConfigurationError(
        f"unsupported database URL {url!r}: use sqlite:///path or postgresql+psycopg://..."
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _IMMEDIATE.get() else "BEGIN")


class Database:
    """One database: its engine, a session factory, and read/write transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> Database:
        """Open the database at ``url`` (see :func:`make_engine`)."""
        return cls(make_engine(url))

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction ended) at the end.

        Objects loaded stay readable after the block (detached, not expired).
        """
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite the whole transaction holds the database's write lock.
        """
        if self.is_sqlite:
            with self._write_lock:
                token = _IMMEDIATE.set(True)
                try:
                    with self.sessions() as session, session.begin():
                        yield session
                finally:
                    _IMMEDIATE.reset(token)
        else:
            with self.sessions() as session, session.begin():
                yield session

    def close(self) -> None:
        """Dispose of every pooled connection."""
        self.engine.dispose()

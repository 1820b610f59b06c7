"""Host-local limits: exact across every process of one host that opens the same file.

For ``winnow serve --workers N`` without Redis. The counters live in one
SQLite database (WAL mode); every ``take`` is one write transaction
(``BEGIN IMMEDIATE``) that reads the counters of every candidate and the
batch, and increments the winner's: the same walk as the Redis script, so
the same answers. Writers queue on an exclusive ``flock`` of a lock file
beside the database before they begin (the kernel wakes the next one at
once: no busy-wait, no starved process); SQLite's own locking is still
there underneath, so a process that does not take the ``flock`` cannot
corrupt anything either.

Crash-safe: a process killed in the middle of a take (``kill -9``) leaves
its transaction rolled back and its ``flock`` released by the kernel.
``synchronous=NORMAL``: a committed take survives a crash of the process;
a power cut may forget the last takes (never corrupts the file), which can
only let a few more datapoints through. Counters survive restarts.

The file must be on a local file system (SQLite's WAL needs shared memory
between the processes; NFS is not supported).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from winnow.activelearning.limits.base import (
    BATCH_REFUSAL,
    BATCH_TTL_SECONDS,
    BatchCap,
    Budget,
    Credit,
    TakeOutcome,
    TakeResult,
    epoch_seconds,
)
from winnow.activelearning.limits.keys import batch_key, window_keys
from winnow.errors import ConfigurationError, ServiceUnavailableError

# As the Redis backend: a window's counter outlives the window by this much.
KEY_MARGIN_SECONDS = 60
# Counters whose expiry has passed are deleted at most this often (per process),
# inside a take; until then they read as absent.
PURGE_EVERY_SECONDS = 60
# SQLite's own wait for its lock, for the rare writer that does not hold the flock
# (another program, a checkpoint); a take never waits on it otherwise.
BUSY_TIMEOUT_SECONDS = 10.0
PREFIX = "winnow"

# Connections a forked child inherited: closing one there could disturb the
# parent's locks, so they are kept referenced (and unused) for the process's life.
_INHERITED: list[sqlite3.Connection] = []

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID
"""


class LocalLimits:
    """Limits in one SQLite file, shared by every process (and thread) of the host using it.

    Table ``counters(key, count, expires)``: the keys are those of the Redis
    backend (``winnow:limit:...``, ``winnow:batch:...``, see ``keys``), the
    expiry a POSIX second computed from the ``now`` of the take that created
    the counter (window length + 60 s; a batch's is refreshed on every place
    taken, ``BATCH_TTL_SECONDS``). A counter past its expiry reads as absent.

    One connection per process (opened again after a fork), used by one
    thread at a time. Errors of the file (disk full, permissions) raise
    ``ServiceUnavailableError``; nothing is taken then.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._pid = -1
        self._connection: sqlite3.Connection | None = None
        self._lock_fd = -1
        self._next_purge = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._transaction():
                pass
        except (OSError, ServiceUnavailableError) as exc:
            self.close()
            raise ConfigurationError(
                f"cannot open the local limits file {str(self.path)!r}: {exc}"
            ) from exc

    def take(
        self,
        candidates: Sequence[Budget],
        batch: BatchCap | None,
        now: datetime,
        source: str | None = None,
    ) -> TakeResult:
        """Take a credit from the first candidate with room, and a batch place, atomically.

        One write transaction. A full batch returns ``BATCH_FULL`` and
        consumes nothing; a candidate without limits always has room; one
        with per-source limits needs room in ``source``'s windows too.
        """
        epoch = epoch_seconds(now)
        walk = [window_keys(PREFIX, budget, epoch, source) for budget in candidates]
        place = batch_key(PREFIX, batch) if batch is not None else None
        keys = [key for windows in walk for key, _, _ in windows]
        if place is not None:
            keys.append(place)
        with self._transaction() as db:
            if epoch >= self._next_purge:
                db.execute("DELETE FROM counters WHERE expires <= ?", (epoch,))
                self._next_purge = epoch + PURGE_EVERY_SECONDS
            counts = _counts(db, keys, epoch)
            cap = None if batch is None else batch.max_images
            if place is not None and cap is not None and counts.get(place, 0) >= cap:
                return TakeResult(TakeOutcome.BATCH_FULL, None, BATCH_REFUSAL)
            refused: str | None = None
            for i, windows in enumerate(walk):
                full = next(
                    (j for j, (key, value, _) in enumerate(windows) if counts.get(key, 0) >= value),
                    -1,
                )
                if full >= 0:
                    if i == 0:
                        refused = candidates[0].refusals[full]
                    continue
                rows = [
                    (key, epoch + length + KEY_MARGIN_SECONDS, False) for key, _, length in windows
                ]
                if place is not None:
                    rows.append((place, epoch + BATCH_TTL_SECONDS, True))
                _increment(db, rows, epoch)
                budget = candidates[i]
                return TakeResult(
                    TakeOutcome.TAKEN, Credit(budget.strategy, budget, batch, now, source)
                )
            return TakeResult(TakeOutcome.STRATEGY_LIMITED, None, refused)

    def give_back(self, credit: Credit) -> None:
        """Return a credit: decrement the windows of ``credit.taken_at`` and its batch place.

        Counters purged since are left absent; counts never go below zero.
        """
        epoch = epoch_seconds(credit.taken_at)
        keys = [key for key, _, _ in window_keys(PREFIX, credit.budget, epoch, credit.source)]
        if credit.batch is not None:
            keys.append(batch_key(PREFIX, credit.batch))
        if not keys:
            return
        marks = ",".join("?" * len(keys))
        with self._transaction() as db:
            db.execute(
                f"UPDATE counters SET count = count - 1 WHERE key IN ({marks}) AND count > 0",
                keys,
            )

    def learn_batch(self, batch: BatchCap, images: int, now: datetime) -> None:
        """Raise the batch's count to ``images`` when it holds fewer, atomically; never lower it."""
        epoch = epoch_seconds(now)
        key = batch_key(PREFIX, batch)
        with self._transaction() as db:
            if _counts(db, [key], epoch).get(key, 0) < images:
                db.execute(
                    "INSERT INTO counters (key, count, expires) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET count = excluded.count,"
                    " expires = excluded.expires",
                    (key, images, epoch + BATCH_TTL_SECONDS),
                )

    def close(self) -> None:
        """Close this process's connection and lock file; the next call opens them again."""
        with self._thread_lock():
            if self._pid == os.getpid():
                if self._connection is not None:
                    self._connection.close()
                if self._lock_fd >= 0:
                    os.close(self._lock_fd)
            elif self._connection is not None:
                _INHERITED.append(self._connection)
            self._connection = None
            self._lock_fd = -1
            self._pid = -1

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """This thread alone, this process alone (flock), in one ``BEGIN IMMEDIATE``."""
        with self._thread_lock():
            try:
                db, fd = self._open()
                fcntl.flock(fd, fcntl.LOCK_EX)
            except (OSError, sqlite3.Error) as exc:
                raise ServiceUnavailableError(
                    f"limits backend unavailable ({type(exc).__name__}: {exc})"
                ) from exc
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise ServiceUnavailableError(
                    f"limits backend unavailable ({type(exc).__name__}: {exc})"
                ) from exc
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _thread_lock(self) -> threading.Lock:
        """The lock of this process's threads (a new one after a fork: the parent's
        may have been held by another thread when it forked)."""
        if self._lock_pid != os.getpid():
            self._lock = threading.Lock()
            self._lock_pid = os.getpid()
        return self._lock

    def _open(self) -> tuple[sqlite3.Connection, int]:
        """This process's connection and lock descriptor, opened on first use (and after a fork:
        a connection inherited from the parent is never used, nor closed, in the child)."""
        pid = os.getpid()
        if self._pid == pid and self._connection is not None:
            return self._connection, self._lock_fd
        if self._connection is not None:  # the parent's: kept, never touched here
            _INHERITED.append(self._connection)
            self._connection = None
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                db = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_SECONDS,
                    isolation_level=None,
                    check_same_thread=False,
                )
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
                    db.execute(_SCHEMA)
                except BaseException:
                    db.close()
                    raise
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        self._connection, self._lock_fd, self._pid = db, fd, pid
        return db, fd


def _counts(db: sqlite3.Connection, keys: list[str], epoch: int) -> dict[str, int]:
    """The live counts of ``keys`` (absent or expired: left out)."""
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    rows = db.execute(
        f"SELECT key, count FROM counters WHERE key IN ({marks}) AND expires > ?",
        [*keys, epoch],
    )
    return dict(rows.fetchall())


def _increment(db: sqlite3.Connection, rows: list[tuple[str, int, bool]], epoch: int) -> None:
    """Add one to each ``(key, expiry, refresh)``; a counter absent or expired starts at one.

    A window counter keeps the expiry it was created with (as Redis's EXPIRE
    on the first INCR); a ``refresh`` one (a batch) gets the new expiry on
    every place taken.
    """
    db.executemany(
        "INSERT INTO counters (key, count, expires) VALUES (?1, 1, ?2)"
        " ON CONFLICT (key) DO UPDATE SET"
        " count = CASE WHEN expires <= ?3 THEN 1 ELSE count + 1 END,"
        " expires = CASE WHEN expires <= ?3 OR ?4 THEN ?2 ELSE expires END",
        [(key, expires, epoch, refresh) for key, expires, refresh in rows],
    )

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
# Counter keys read or written by one statement (3 parameters each when written).
_KEYS_A_STATEMENT = 300

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
        # The counters of the running burst() and the thread that runs it.
        self._burst: _Counters | None = None
        self._burst_owner: int | None = None
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

        One write transaction (or a part of this thread's :meth:`burst`). A full
        batch returns ``BATCH_FULL`` and consumes nothing; a candidate without
        limits always has room (with no batch either, nothing is counted); one
        with per-source limits needs room in ``source``'s windows too.
        """
        epoch = epoch_seconds(now)
        walk = [window_keys(PREFIX, budget, epoch, source) for budget in candidates]
        place = batch_key(PREFIX, batch) if batch is not None else None
        if walk and not walk[0] and place is None:
            budget = candidates[0]
            return TakeResult(
                TakeOutcome.TAKEN, Credit(budget.strategy, budget, batch, now, source)
            )
        keys = [key for windows in walk for key, _, _ in windows]
        if place is not None:
            keys.append(place)
        with self._counters(epoch) as counters:
            counters.load(keys)
            cap = None if batch is None else batch.max_images
            if place is not None and cap is not None and counters.live(place, epoch) >= cap:
                return TakeResult(TakeOutcome.BATCH_FULL, None, BATCH_REFUSAL)
            refused: str | None = None
            for i, windows in enumerate(walk):
                full = next(
                    (
                        j
                        for j, (key, value, _) in enumerate(windows)
                        if counters.live(key, epoch) >= value
                    ),
                    -1,
                )
                if full >= 0:
                    if i == 0:
                        refused = candidates[0].refusals[full]
                    continue
                for key, _, length in windows:
                    counters.increment(key, epoch + length + KEY_MARGIN_SECONDS, False, epoch)
                if place is not None:
                    counters.increment(place, epoch + BATCH_TTL_SECONDS, True, epoch)
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
        with self._counters(None) as counters:
            counters.load(keys)
            for key in keys:
                counters.decrement(key)

    def learn_batch(self, batch: BatchCap, images: int, now: datetime) -> None:
        """Raise the batch's count to ``images`` when it holds fewer, atomically; never lower it."""
        epoch = epoch_seconds(now)
        key = batch_key(PREFIX, batch)
        with self._counters(epoch) as counters:
            counters.load([key])
            if counters.live(key, epoch) < images:
                counters.put(key, images, epoch + BATCH_TTL_SECONDS)

    @contextlib.contextmanager
    def burst(self) -> Iterator[None]:
        """Run this thread's takes, give-backs and batch learning inside as ONE transaction.

        The flock and the write transaction are held from entry to exit: every other
        process's and thread's limits wait, so the counters this thread reads stay
        exact, and it reads each counter from the file once and writes the changed
        ones back in one statement at exit. A serving process's collector decides a
        burst of datapoints this way with a few SQLite calls instead of several per
        datapoint (each call gives the GIL up and may wait a switch interval to get
        it back beside a busy serving thread). Raises ``ServiceUnavailableError`` at
        exit when the file cannot be written: then NOTHING taken inside is recorded,
        and the caller must not use the credits it got there. Nested: one burst.
        """
        if self._burst is not None and self._burst_owner == threading.get_ident():
            yield
            return
        with self._transaction() as db:
            counters = _Counters(db)
            self._burst, self._burst_owner = counters, threading.get_ident()
            try:
                yield
                counters.flush()
            finally:
                self._burst, self._burst_owner = None, None

    @contextlib.contextmanager
    def _counters(self, epoch: int | None) -> Iterator[_Counters]:
        """This thread's burst's counters, or a transaction of its own written back at exit;
        expired counters are purged first when due (at ``epoch``, when given)."""
        if self._burst is not None and self._burst_owner == threading.get_ident():
            if epoch is not None:
                self._purge(self._burst.db, epoch)
            yield self._burst
            return
        with self._transaction() as db:
            if epoch is not None:
                self._purge(db, epoch)
            counters = _Counters(db)
            yield counters
            counters.flush()

    def _purge(self, db: sqlite3.Connection, epoch: int) -> None:
        if epoch >= self._next_purge:
            db.execute("DELETE FROM counters WHERE expires <= ?", (epoch,))
            self._next_purge = epoch + PURGE_EVERY_SECONDS

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


class _Counters:
    """Counter rows of one transaction: read once, changed in memory, written back at once.

    The same rules as the statements they stand for: a counter whose expiry has
    passed reads as absent (:meth:`live`) and starts again at one; a window
    counter keeps the expiry it was created with (as Redis's EXPIRE on the first
    INCR), a ``refresh`` one (a batch) gets the new expiry on every place taken;
    a decrement never goes below zero.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._rows: dict[str, tuple[int, int] | None] = {}
        self._dirty: set[str] = set()

    def load(self, keys: Sequence[str]) -> None:
        """Read the keys not read yet (one statement)."""
        missing = [key for key in dict.fromkeys(keys) if key not in self._rows]
        for start in range(0, len(missing), _KEYS_A_STATEMENT):
            chunk = missing[start : start + _KEYS_A_STATEMENT]
            marks = ",".join("?" * len(chunk))
            found = self.db.execute(
                f"SELECT key, count, expires FROM counters WHERE key IN ({marks})", chunk
            ).fetchall()
            rows = {str(key): (int(count), int(expires)) for key, count, expires in found}
            for key in chunk:
                self._rows[key] = rows.get(key)

    def live(self, key: str, epoch: int) -> int:
        """The count of ``key`` at ``epoch`` (0 when absent or expired); ``key`` was loaded."""
        row = self._rows[key]
        return 0 if row is None or row[1] <= epoch else row[0]

    def increment(self, key: str, expires: int, refresh: bool, epoch: int) -> None:
        """Add one; a counter absent or expired at ``epoch`` starts at one with ``expires``."""
        row = self._rows[key]
        if row is None or row[1] <= epoch:
            self._rows[key] = (1, expires)
        else:
            self._rows[key] = (row[0] + 1, expires if refresh else row[1])
        self._dirty.add(key)

    def decrement(self, key: str) -> None:
        """Take one off a present counter above zero."""
        row = self._rows[key]
        if row is not None and row[0] > 0:
            self._rows[key] = (row[0] - 1, row[1])
            self._dirty.add(key)

    def put(self, key: str, count: int, expires: int) -> None:
        """Set the counter."""
        self._rows[key] = (count, expires)
        self._dirty.add(key)

    def flush(self) -> None:
        """Write the changed counters back (one statement for up to ``_KEYS_A_STATEMENT``)."""
        dirty = sorted(self._dirty)
        for start in range(0, len(dirty), _KEYS_A_STATEMENT):
            chunk = dirty[start : start + _KEYS_A_STATEMENT]
            values: list[object] = []
            for key in chunk:
                row = self._rows[key]
                assert row is not None  # only present counters are marked changed
                values += [key, row[0], row[1]]
            self.db.execute(
                "INSERT INTO counters (key, count, expires) VALUES "
                + ",".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT (key) DO UPDATE SET count = excluded.count,"
                " expires = excluded.expires",
                values,
            )
        self._dirty.clear()

"""A platform client that stores by idempotency key in SQLite, for delivery tests and their child processes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from winnow.activelearning.datapoint import Datapoint


class RecordingPlatform:
    """A platform client that is idempotent by key, like the real platform.

    Keys go into a SQLite table with a UNIQUE key (so a redelivery stores
    nothing new and gets the same image id); every call is counted per key.
    ``hang_after=n``: after storing the n-th distinct key, print ``HANG`` and
    block (the window a crash leaves: stored, not yet marked delivered).
    """

    def __init__(self, path: Path, *, delay: float = 0.0, hang_after: int | None = None) -> None:
        self.delay = delay
        self.hang_after = hang_after
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS images (id INTEGER PRIMARY KEY, key TEXT UNIQUE)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT)")

    def deliver(self, datapoint: Datapoint) -> str:
        with self._lock:
            self.db.execute("INSERT INTO calls (key) VALUES (?)", (datapoint.idempotency_key,))
            self.db.execute(
                "INSERT OR IGNORE INTO images (key) VALUES (?)", (datapoint.idempotency_key,)
            )
            (image_id,) = self.db.execute(
                "SELECT id FROM images WHERE key = ?", (datapoint.idempotency_key,)
            ).fetchone()
            stored = self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        if self.hang_after is not None and stored == self.hang_after:
            print("HANG", datapoint.idempotency_key, flush=True)
            time.sleep(120)
        time.sleep(self.delay)
        return f"img-{image_id}"

    def close(self) -> None:
        self.db.close()

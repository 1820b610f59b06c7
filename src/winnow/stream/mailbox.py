"""The hand-off between a source's reader thread and its worker thread.

A live source must never build a backlog: its mailbox holds one frame and a
newer frame replaces an unprocessed one (counted as dropped). A file read as
fast as possible loses nothing: its reader waits until the worker has taken
the previous frame.
"""

from __future__ import annotations

import threading

from winnow.stream.sources import Frame


class Mailbox:
    """A one-frame slot. ``keep_newest`` replaces a waiting frame instead of blocking."""

    def __init__(self, *, keep_newest: bool) -> None:
        self._keep_newest = keep_newest
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame, stop: threading.Event) -> bool:
        """Hand over a frame. Returns False (frame not taken) when ``stop`` is set first."""
        with self._cond:
            if self._keep_newest:
                if self._frame is not None:
                    self.dropped += 1
            else:
                while self._frame is not None and not stop.is_set():
                    self._cond.wait(0.1)
                if stop.is_set():
                    return False
            self._frame = frame
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Frame | None:
        """The waiting frame, or None if none arrived within ``timeout`` seconds."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames will come; ``finished`` turns true once the last one is taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        """Closed and empty."""
        with self._cond:
            return self._closed and self._frame is None

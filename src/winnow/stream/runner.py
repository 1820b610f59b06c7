"""The stream runner: frames from sources -> model -> the same collector as the HTTP server.

Each source gets its own threads. Its *reader* opens the source, reads frames
and hands them to a one-frame :class:`~winnow.stream.mailbox.Mailbox`; a live
source (and a file at native rate) overwrites a frame the worker has not
taken yet, so it never builds a backlog, while a file read as fast as
possible waits. Its *worker* takes at most ``max_fps`` frames per second,
runs the model, and hands frame and prediction to the collector as one
:class:`Inferred` value, so they cannot be mispaired whatever fails.

Its *collect* thread (when there is a collector) calls
``Collector.process`` on each :class:`Inferred`, so collecting one frame
overlaps inference of the next. It calls ``process`` rather than ``submit``:
a stream has no HTTP response to protect, and a small blocking hand-off
gives back-pressure (a file read as fast as possible never overflows the
collector's queue, so no datapoint is dropped; a live source drops stale
frames in its mailbox instead) and an exact per-source count of collected
frames.

Live sources reconnect after a failure or an end of stream with exponential
backoff; states are reported per source (:class:`SourceState`). ``stop()``
stops reading, finishes the frames in flight and drains the collector so
that every accepted datapoint is in the outbox.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from winnow.activelearning.collector import Outcome
from winnow.activelearning.datapoint import CollectionContext
from winnow.errors import StreamSourceError
from winnow.models.base import InferenceParams
from winnow.stream.mailbox import Mailbox
from winnow.stream.protocols import CollectionSink, Inferred, ModelProvider
from winnow.stream.sources import Frame, FrameSource
from winnow.stream.status import SourceState, SourceStatus, StreamMetrics

log = logging.getLogger(__name__)

HANDOFF_SIZE = 2


class _SourceRun:
    """One source's threads, mailbox and counters."""

    def __init__(self, source: FrameSource, *, keep_newest: bool) -> None:
        self.source = source
        self.mailbox = Mailbox(keep_newest=keep_newest)
        self.lock = threading.Lock()
        self.state = SourceState.CONNECTING
        self.processed = 0
        self.reported_dropped = 0
        self.failed = 0
        self.collected = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self.reader: threading.Thread | None = None
        self.worker: threading.Thread | None = None
        self.collect: threading.Thread | None = None
        # Inference of the next frame overlaps collection of this one; a small bound keeps
        # a slow collector from building a backlog (the worker waits, the mailbox drops).
        self.handoff: queue.Queue[Inferred | None] = queue.Queue(maxsize=HANDOFF_SIZE)

    def threads(self) -> list[threading.Thread]:
        return [t for t in (self.worker, self.collect) if t is not None]

    def snapshot(self) -> SourceStatus:
        with self.lock:
            return SourceStatus(
                source_id=self.source.source_id,
                state=self.state,
                processed=self.processed,
                dropped=self.mailbox.dropped,
                failed=self.failed,
                collected=self.collected,
                reconnects=self.reconnects,
                last_error=self.last_error,
            )


class StreamRunner:
    """Runs a model on frames of several sources and feeds the collector.

    ``max_fps`` bounds processed frames per second per source (None: as fast
    as the model goes). ``realtime`` makes file sources play at their native
    rate (dropping frames the model cannot keep up with) instead of as fast
    as possible. ``collector`` may be None to run inference only.
    ``clock``/``sleep`` exist for tests (a fake clock makes the frame-rate
    limit exact to check). Live sources retry forever unless
    ``max_reconnects`` is given; delays grow from ``backoff_base`` doubling up
    to ``backoff_max`` seconds.
    """

    def __init__(
        self,
        sources: Sequence[FrameSource],
        model_id: str,
        api_key: str,
        *,
        registry: ModelProvider,
        collector: CollectionSink | None,
        max_fps: float | None = None,
        realtime: bool = False,
        params: InferenceParams | None = None,
        metrics: StreamMetrics | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_reconnects: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        ids = [s.source_id for s in sources]
        if not sources:
            raise StreamSourceError("at least one source is needed")
        if len(set(ids)) != len(ids):
            raise StreamSourceError(f"source ids must be unique, got {ids}")
        if max_fps is not None and max_fps <= 0:
            raise StreamSourceError(f"max_fps must be > 0, got {max_fps}")
        self._model_id = model_id
        self._api_key = api_key
        self._project = model_id.split("/", 1)[0]
        self._registry = registry
        self._collector = collector
        self._interval = 1.0 / max_fps if max_fps else 0.0
        self._realtime = realtime
        self._params = params or InferenceParams()
        self._metrics = metrics
        self._backoff = (backoff_base, backoff_max)
        self._max_reconnects = max_reconnects
        self._clock = clock
        self._stop_reading = threading.Event()
        self._sleep = sleep or self._stop_reading.wait
        self._runs = [_SourceRun(s, keep_newest=s.is_live or realtime) for s in sources]
        self._started = False

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Load the model (raising its error if it cannot be loaded) and start every source."""
        if self._started:
            raise RuntimeError("a StreamRunner starts once")
        self._registry.get(self._api_key, self._model_id)
        self._started = True
        for run in self._runs:
            self._set_state(run, SourceState.CONNECTING)
            sid = run.source.source_id
            run.reader = threading.Thread(
                target=self._read_loop, args=(run,), name=f"stream-read-{sid}", daemon=True
            )
            run.worker = threading.Thread(
                target=self._work_loop, args=(run,), name=f"stream-work-{sid}", daemon=True
            )
            if self._collector is not None:
                run.collect = threading.Thread(
                    target=self._collect_loop,
                    args=(run,),
                    name=f"stream-collect-{sid}",
                    daemon=True,
                )
                run.collect.start()
            run.reader.start()
            run.worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every source has ended (files done, live sources given up); True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for run in self._runs:
            for thread in run.threads():
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(left)
                if thread.is_alive():
                    return False
        return True

    def stop(self, timeout: float = 30.0, *, reader_grace: float = 2.0) -> None:
        """Stop reading, finish frames in flight, then drain the collector. Idempotent.

        Workers finish the frame they are on and the one waiting in their
        mailbox. A reader blocked in a silent live source's read is given
        ``reader_grace`` seconds, then left to its read time-out (it is a
        daemon thread and closes its source when the read returns).
        """
        self._stop_reading.set()
        deadline = time.monotonic() + timeout
        for run in self._runs:
            for thread in run.threads():
                thread.join(max(0.0, deadline - time.monotonic()))
        for run in self._runs:
            if run.reader is not None:
                run.reader.join(min(reader_grace, max(0.0, deadline - time.monotonic())))
                if run.reader.is_alive():
                    log.warning("stream source %s is still in a read", run.source.source_id)
        if self._collector is not None:
            self._collector.drain()

    def status(self) -> list[SourceStatus]:
        """A snapshot of every source, in the order given."""
        return [run.snapshot() for run in self._runs]

    # ------------------------------------------------------------------ reader

    def _set_state(self, run: _SourceRun, state: SourceState, error: str | None = None) -> None:
        with run.lock:
            run.state = state
            if error is not None:
                run.last_error = error
        if self._metrics is not None:
            self._metrics.set_state(run.source.source_id, state)

    def _read_loop(self, run: _SourceRun) -> None:
        source = run.source
        attempt = 0
        try:
            while not self._stop_reading.is_set():
                error, got_frames = self._read_connection(run)
                if self._stop_reading.is_set():
                    break
                if not source.is_live:
                    if error is not None:
                        self._set_state(run, SourceState.ENDED, error)
                        log.warning("stream source %s ended: %s", source.source_id, error)
                    break
                if got_frames:
                    attempt = 0  # the connection worked: start the backoff over
                if self._max_reconnects is not None and attempt >= self._max_reconnects:
                    self._set_state(run, SourceState.ENDED, error or "stream ended")
                    break
                delay = min(self._backoff[0] * 2**attempt, self._backoff[1])
                attempt += 1
                with run.lock:
                    run.reconnects += 1
                self._set_state(run, SourceState.RECONNECTING, error or "stream ended")
                log.warning(
                    "stream source %s lost (%s); reconnecting in %.1fs",
                    source.source_id,
                    error or "stream ended",
                    delay,
                )
                self._stop_reading.wait(delay)
        finally:
            run.mailbox.close()

    def _read_connection(self, run: _SourceRun) -> tuple[str | None, bool]:
        """Open the source and read until it ends or fails.

        Returns the error text (None at a clean end) and whether any frame was read.
        """
        source = run.source
        got_frames = False
        try:
            source.open()
            first_wall: float | None = None
            first_media = 0.0
            while not self._stop_reading.is_set():
                frame = source.read()
                if frame is None:
                    return None, got_frames
                got_frames = True
                if run.state is not SourceState.RUNNING:
                    self._set_state(run, SourceState.RUNNING)
                if self._realtime and not source.is_live:
                    # Play at native rate: wait until this frame's media time has come.
                    if first_wall is None:
                        first_wall, first_media = time.monotonic(), frame.timestamp
                    due = first_wall + (frame.timestamp - first_media) - time.monotonic()
                    if due > 0:
                        self._stop_reading.wait(due)
                if not run.mailbox.put(frame, self._stop_reading):
                    break
            return None, got_frames
        except StreamSourceError as exc:
            return exc.message, got_frames
        except Exception as exc:  # a decoder bug must not kill the runner silently
            log.exception("stream source %s failed", source.source_id)
            return f"{type(exc).__name__}: {exc}", got_frames
        finally:
            try:
                source.close()
            except Exception:
                log.exception("closing stream source %s failed", source.source_id)

    # ------------------------------------------------------------------ worker

    def _work_loop(self, run: _SourceRun) -> None:
        next_slot = self._clock()
        try:
            while True:
                if self._interval and not self._stop_reading.is_set():
                    wait = next_slot - self._clock()
                    if wait > 0:
                        self._sleep(wait)
                        continue
                frame = run.mailbox.get(0.1)
                self._report_dropped(run)
                if frame is None:
                    if run.mailbox.finished or self._stop_reading.is_set():
                        break
                    continue
                next_slot = self._clock() + self._interval
                self._process(run, frame)
        finally:
            self._report_dropped(run)
            if run.collect is None:
                self._set_state(run, SourceState.ENDED)
            else:
                self._hand_over(run, None)  # tells the collect thread to finish

    def _hand_over(self, run: _SourceRun, item: Inferred | None) -> None:
        """Queue for the collect thread, waiting while it is busy (never if it has died)."""
        while True:
            try:
                run.handoff.put(item, timeout=0.5)
                return
            except queue.Full:
                if run.collect is None or not run.collect.is_alive():
                    return

    def _collect_loop(self, run: _SourceRun) -> None:
        try:
            while (item := run.handoff.get()) is not None:
                self._collect(run, item)
        finally:
            self._set_state(run, SourceState.ENDED)

    def _report_dropped(self, run: _SourceRun) -> None:
        if self._metrics is None:
            return
        dropped = run.mailbox.dropped
        self._metrics.count(run.source.source_id, "dropped", dropped - run.reported_dropped)
        run.reported_dropped = dropped

    def _infer(self, run: _SourceRun, frame: Frame) -> Inferred | None:
        """Run the model on one frame; None (counted as failed) when it fails."""
        try:
            model = self._registry.get(self._api_key, self._model_id)
            predictions = model.infer([frame.image], self._params)
        except Exception as exc:
            log.warning("inference failed on %s frame %d: %s", frame.source_id, frame.index, exc)
            predictions = []
        if len(predictions) != 1:
            with run.lock:
                run.failed += 1
            if self._metrics is not None:
                self._metrics.count(run.source.source_id, "failed")
            return None
        return Inferred(frame=frame, prediction=predictions[0])

    def _process(self, run: _SourceRun, frame: Frame) -> None:
        inferred = self._infer(run, frame)
        if inferred is None:
            return
        with run.lock:
            run.processed += 1
        sid = run.source.source_id
        if self._metrics is not None:
            self._metrics.count(sid, "processed")
        if self._collector is not None:
            self._hand_over(run, inferred)

    def _collect(self, run: _SourceRun, inferred: Inferred) -> None:
        """Hand one frame and its prediction to the collector; count it when collected."""
        if self._collector is None:
            return
        sid = run.source.source_id
        context = CollectionContext(
            api_key=self._api_key,
            project=self._project,
            model_id=self._model_id,
            inference_id=uuid.uuid4().hex,
            source=f"stream:{sid}",
            source_tags=(f"source:{sid}",),
            extra={"frame_index": inferred.frame.index, "frame_time": inferred.frame.timestamp},
        )
        try:
            outcome = self._collector.process(inferred.frame.image, inferred.prediction, context)
        except Exception:  # the collector promises not to raise; a stream must not die if it does
            log.exception("collector failed on %s frame %d", sid, inferred.frame.index)
            outcome = Outcome.ERROR
        if outcome is Outcome.QUEUED:
            with run.lock:
                run.collected += 1
            if self._metrics is not None:
                self._metrics.count(sid, "collected")

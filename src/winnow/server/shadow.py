"""Shadow models: a candidate model version run beside the served one, after the response.

A project's active learning configuration may name ``shadow: {"model_id",
"traffic_percentage"}``. :class:`ShadowRunner` stands between the pipeline and
the collector (``ShadowRunner.for_request`` wraps the collector hand-off):
for ``traffic_percentage`` of a project's requests it runs the shadow model
on the same decoded image (``CapturedImage.pixels()``, never decoded again)
with the request's parameters, in its own worker thread, then hands the
image to the collector with the shadow's prediction on the context
(``CollectionContext.shadow``), where a ``disagreement`` strategy reads it.
Every other image goes to the collector at once, as without a shadow.

What callers may rely on:

- nothing here runs before the response, and nothing changes it: the
  hand-off only looks at a dictionary and puts on a bounded queue;
- the cost is capped: at most ``shadow_queue_size`` images wait, and the
  worker spends at most ``shadow_time_budget`` seconds of model time per
  second of wall time (a token bucket holding up to ten seconds' worth,
  checked when a run is queued and again just before it runs, so the
  budget is overspent by at most the one run in progress).
  A run that finds the queue full or the budget spent is skipped: the
  image goes to the collector without a shadow prediction (a disagreement
  strategy does not match it), counted in
  ``winnow_shadow_skipped{project, reason}``; a shadow that cannot run
  (unknown model, another task than the served model) is skipped the same way;
- ``winnow_shadow_runs``, ``winnow_shadow_seconds`` and
  ``winnow_shadow_disagreements`` count what ran, by project; the runs and
  disagreements per project and UTC day are also reported to the platform
  every ``shadow_report_seconds`` (``ShadowCountSink``) as this process's
  totals of the day, so a report sent twice counts once;
- the configuration is learned from the same ``ConfigSource`` as the
  collector's, by the worker (never on the event loop): an image of a
  project whose configuration the runner has not learned in the last
  ``config_cache_seconds`` waits on the queue undecided, and the worker
  decides it (when the queue is full it goes to the collector without a
  shadow, not counted as a skip: no run was known to be due);
- every image handed over reaches the collector exactly once.

The disagreement counted for the rate uses the ``min_iou`` of the project's
first ``disagreement`` strategy (0.5 without one).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from winnow.activelearning.config import ActiveLearningConfig, DisagreementStrategy, ShadowConfig
from winnow.activelearning.datapoint import CollectionContext, ShadowRun
from winnow.activelearning.disagreement import disagree
from winnow.activelearning.platform_client import ConfigSource, ShadowCount, ShadowCountSink
from winnow.errors import ServiceUnavailableError, WinnowError
from winnow.images import CapturedImage
from winnow.metrics import Metrics
from winnow.models.base import InferenceParams, Model
from winnow.predictions import Prediction, StubPrediction
from winnow.server.services import CollectorLike
from winnow.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MIN_IOU = 0.5
_BUCKET_SECONDS = 10.0  # the time budget may be saved up for this long
_MAX_PROJECTS = 4096


@dataclass(slots=True)
class _Job:
    image: CapturedImage
    prediction: Prediction
    context: CollectionContext
    params: InferenceParams
    shadow: ShadowConfig | None  # None: the configuration is not known yet
    min_iou: float


@dataclass(slots=True)
class _Known:
    shadow: ShadowConfig | None
    min_iou: float
    at: float


class _Hand:
    """The collector hand-off of one request: ``submit`` as the collector's, with the
    request's inference parameters bound (the shadow runs with the same ones)."""

    __slots__ = ("_collector", "_params", "_runner")

    def __init__(
        self, runner: ShadowRunner, collector: CollectorLike, params: InferenceParams
    ) -> None:
        self._runner = runner
        self._collector = collector
        self._params = params

    def submit(
        self, image: CapturedImage, prediction: Prediction, context: CollectionContext
    ) -> bool:
        return self._runner.submit(self._collector, image, prediction, context, self._params)


class ShadowRunner:
    """Runs shadow models off the request path (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: Settings,
        config_source: ConfigSource,
        models: Callable[[str, str], Model],
        metrics: Metrics,
        sink: ShadowCountSink | None = None,
        node: str = "",
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[], float] = time.perf_counter,
        today: Callable[[], str] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._config_source = config_source
        self._models = models  # (api_key, model_id) -> loaded model (the registry's get)
        self._sink = sink
        self._node = node
        self._rng = rng or random.Random()
        self._clock = clock
        self._timer = timer  # measures model runs (seconds)
        self._today = today or (lambda: datetime.now(UTC).strftime("%Y-%m-%d"))
        self._queue: queue.Queue[tuple[CollectorLike, _Job]] = queue.Queue(
            maxsize=settings.shadow_queue_size
        )
        self._known: dict[tuple[str, str], _Known] = {}
        self._lock = threading.Lock()
        self._tokens = settings.shadow_time_budget * _BUCKET_SECONDS
        self._refilled = clock()
        # (api_key, project, day, model_id) -> [runs, disagreements], this process's totals.
        self._counts: dict[tuple[str, str, str, str], list[int]] = {}
        self._dirty: set[tuple[str, str, str, str]] = set()
        self._logged: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported = clock()

    # ------------------------------------------------------------------ hand-off

    def for_request(self, collector: CollectorLike, params: InferenceParams) -> CollectorLike:
        """The collector hand-off for one request's images (the pipeline's hook)."""
        return _Hand(self, collector, params)

    def submit(
        self,
        collector: CollectorLike,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        params: InferenceParams,
    ) -> bool:
        """Queue a shadow run for the image when one is due, else hand it to ``collector``.

        Never blocks and never raises (what ``collector.submit`` returns, or True
        when the image waits for its shadow run).
        """
        try:
            return self._submit(collector, image, prediction, context, params)
        except Exception as exc:  # never reach the inference client
            self._count_error(context.project, exc)
            return collector.submit(image, prediction, context)

    def _submit(
        self,
        collector: CollectorLike,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        params: InferenceParams,
    ) -> bool:
        if isinstance(prediction, StubPrediction):
            return collector.submit(image, prediction, context)
        now = self._clock()
        with self._lock:
            known = self._known.get((context.api_key, context.project))
        if known is None or now - known.at >= self.settings.config_cache_seconds:
            # The worker looks the configuration up (never the event loop) and decides.
            job = _Job(image, prediction, context, params, None, DEFAULT_MIN_IOU)
            try:
                self._queue.put_nowait((collector, job))
            except queue.Full:
                return collector.submit(image, prediction, context)
            return True
        assert known is not None
        shadow = known.shadow
        if shadow is None or self._rng.random() >= shadow.traffic_percentage:
            return collector.submit(image, prediction, context)
        return self._offer(
            collector, _Job(image, prediction, context, params, shadow, known.min_iou)
        )

    def _offer(self, collector: CollectorLike, job: _Job) -> bool:
        """Queue a due shadow run, or skip it (counted) when the node is busy."""
        project = job.context.project
        if not self._has_budget():
            self.metrics.shadow_skipped.labels(project=project, reason="time_budget").inc()
            return collector.submit(job.image, job.prediction, job.context)
        try:
            self._queue.put_nowait((collector, job))
        except queue.Full:
            self.metrics.shadow_skipped.labels(project=project, reason="queue_full").inc()
            return collector.submit(job.image, job.prediction, job.context)
        return True

    def _has_budget(self) -> bool:
        with self._lock:
            self._refill()
            return self._tokens > 0

    def _refill(self) -> None:
        now = self._clock()
        rate = self.settings.shadow_time_budget
        self._tokens = min(rate * _BUCKET_SECONDS, self._tokens + (now - self._refilled) * rate)
        self._refilled = now

    # ------------------------------------------------------------------ worker

    def start(self) -> None:
        """Run queued shadow runs in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="winnow-shadow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker after what is queued (each image still reaches the collector),
        then report the counts once more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None
        self.report()

    def drain(self, timeout: float = 30.0) -> int:
        """Run everything queued now, in this thread, and wait for the worker's run in
        progress: when it returns, every image handed over before the call has reached the
        collector. Returns how many images this thread handled; TimeoutError after ``timeout``.
        """
        done = 0
        while True:
            try:
                collector, job = self._queue.get_nowait()
            except queue.Empty:
                break
            try:
                self.process(collector, job)
            finally:
                self._queue.task_done()
            done += 1
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the shadow worker did not finish its run in time")
                self._queue.all_tasks_done.wait(remaining)
        return done

    def _run(self) -> None:
        while True:
            try:
                collector, job = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                self._maybe_report()
                continue
            try:
                self.process(collector, job)
            finally:
                self._queue.task_done()
            self._maybe_report()

    def process(self, collector: CollectorLike, job: _Job) -> None:
        """Decide (when the configuration was not known), run the shadow, hand over; never raises."""
        context = job.context
        if job.shadow is None:
            try:
                job = self._decide(job)
            except Exception as exc:  # the configuration source is down: no run known to be due
                self._count_error(context.project, exc, what="config")
            if job.shadow is None:
                collector.submit(job.image, job.prediction, context)
                return
        if not self._has_budget():  # spent by the runs before this one: over by one run at most
            self.metrics.shadow_skipped.labels(project=context.project, reason="time_budget").inc()
            collector.submit(job.image, job.prediction, context)
            return
        try:
            context = self._run_shadow(job)
        except Exception as exc:
            self._count_error(job.context.project, exc)
            context = job.context
        collector.submit(job.image, job.prediction, context)

    def _decide(self, job: _Job) -> _Job:
        """Learn the project's shadow; the job with it when a run is due now."""
        context = job.context
        key = (context.api_key, context.project)
        with self._lock:
            known = self._known.get(key)
        if known is not None and self._clock() - known.at < self.settings.config_cache_seconds:
            shadow, min_iou = known.shadow, known.min_iou  # decided for an earlier job
        else:
            config = self._config_source.get(context.api_key, context.project).config
            shadow, min_iou = _shadow_of(config)
            with self._lock:
                if len(self._known) >= _MAX_PROJECTS:
                    self._known.clear()
                self._known[key] = _Known(shadow, min_iou, self._clock())
        if shadow is None or self._rng.random() >= shadow.traffic_percentage:
            return job
        if not self._has_budget():
            self.metrics.shadow_skipped.labels(project=context.project, reason="time_budget").inc()
            return job
        return dataclasses.replace(job, shadow=shadow, min_iou=min_iou)

    def _run_shadow(self, job: _Job) -> CollectionContext:
        """The context with the shadow's prediction (counted), or unchanged when it cannot run."""
        assert job.shadow is not None
        context, project = job.context, job.context.project
        model_id = job.shadow.model_id
        model = self._models(context.api_key, model_id)
        task = getattr(job.prediction, "task_type", None)
        if model.task_type != str(task):
            self.metrics.shadow_skipped.labels(project=project, reason="task_mismatch").inc()
            self._log_once(
                f"task:{project}:{model_id}",
                "shadow %s of %s is a %s model, the served one %s: not run",
                model_id,
                project,
                model.task_type,
                task,
            )
            return context
        started = self._timer()
        try:
            (shadow_prediction,) = model.infer([job.image.pixels()], job.params)
        finally:
            seconds = self._timer() - started
            with self._lock:
                self._refill()
                self._tokens -= seconds
            self.metrics.shadow_seconds.labels(project=project).inc(seconds)
        self.metrics.shadow_runs.labels(project=project).inc()
        disagreed = disagree(job.prediction, shadow_prediction, job.min_iou)
        if disagreed:
            self.metrics.shadow_disagreements.labels(project=project).inc()
        key = (context.api_key, project, self._today(), model_id)
        with self._lock:
            counts = self._counts.setdefault(key, [0, 0])
            counts[0] += 1
            counts[1] += int(disagreed)
            self._dirty.add(key)
        return dataclasses.replace(
            context, shadow=ShadowRun(model_id=model_id, prediction=shadow_prediction)
        )

    # ------------------------------------------------------------------ counts

    def counts(self) -> dict[tuple[str, str, str, str], tuple[int, int]]:
        """This process's (runs, disagreements) by (api key, project, day, shadow model id)."""
        with self._lock:
            return {key: (runs, disagreed) for key, (runs, disagreed) in self._counts.items()}

    def _maybe_report(self) -> None:
        if self._clock() - self._reported >= self.settings.shadow_report_seconds:
            self.report()

    def report(self) -> None:
        """Send the counts changed since the last report to the sink; never raises.

        Counts the platform could not take (unreachable, 5xx, any non-winnow
        error) are sent again with the next report; counts it refused for good
        (unknown key or project: 4xx) are not; days before today are forgotten
        once sent.
        """
        self._reported = self._clock()
        if self._sink is None:
            return
        with self._lock:
            dirty = sorted(self._dirty)
            self._dirty.clear()
            snapshot = {key: tuple(self._counts[key]) for key in dirty}
        by_project: dict[tuple[str, str], list[tuple[tuple[str, str, str, str], ShadowCount]]] = {}
        for key, (runs, disagreed) in snapshot.items():
            api_key, project, day, model_id = key
            count = ShadowCount(day, self._node, model_id, runs, disagreed)
            by_project.setdefault((api_key, project), []).append((key, count))
        today = self._today()
        for (api_key, project), entries in by_project.items():
            try:
                self._sink.report(api_key, project, [count for _, count in entries])
            except Exception as exc:
                if _retryable(exc):
                    with self._lock:
                        self._dirty.update(key for key, _ in entries)
                self._count_error(project, exc, what="report")
                continue
            with self._lock:
                for key, count in entries:
                    if count.day < today and key not in self._dirty:
                        self._counts.pop(key, None)

    # ------------------------------------------------------------------ helpers

    def _count_error(self, project: str, exc: BaseException, what: str = "run") -> None:
        # A run that failed is a skip; a failed lookup or report only an error.
        if what == "run":
            self.metrics.shadow_skipped.labels(project=project, reason="error").inc()
        cause = f"shadow_{what}:{type(exc).__name__}"
        self.metrics.collection_errors.labels(cause=cause).inc()
        self._log_once(cause, "shadow model %s failed (%s): %s", what, type(exc).__name__, exc)

    def _log_once(self, cause: str, message: str, *args: object) -> None:
        with self._lock:
            first = cause not in self._logged
            self._logged.add(cause)
        if first:
            log.warning(message + " (logged once; see winnow_shadow_skipped)", *args)


def _retryable(exc: Exception) -> bool:
    """A report refused for good (unknown key or project, a bad count) is not sent again."""
    return isinstance(exc, ServiceUnavailableError) or not isinstance(exc, WinnowError)


def _shadow_of(config: ActiveLearningConfig) -> tuple[ShadowConfig | None, float]:
    """The configuration's shadow and the ``min_iou`` its disagreement rate is counted at."""
    min_iou = next(
        (s.min_iou for s in config.sampling_strategies if isinstance(s, DisagreementStrategy)),
        DEFAULT_MIN_IOU,
    )
    return config.shadow, min_iou

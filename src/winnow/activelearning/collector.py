"""The collector: the one entry point inference routes and the stream runner call.

``submit(image, prediction, context)`` returns at once: it puts the decoded
image (the very object, no copy) on a bounded queue and a worker thread
runs :meth:`Collector.process`, in this order:

1. the master switch (``settings.active_learning_enabled``);
2. the project's configuration (``config_source.get``), enabled or not;
3. the prediction's task must fit the project type (stubs fit any), and the
   context's ``extra`` must be JSON (no NaN, infinity or non-JSON values);
4. ``samplers.sample``: strategies in configuration order, on the prediction alone
   (``top_fraction`` strategies rank it in the collector's ``score_windows``,
   per ``<workspace>/<project>`` and strategy);
5. near-duplicate filter when the configuration enables it (no credit spent);
6. one ``limits.take``: a credit from the first sampled strategy with room, plus
   a place in the batch (``max_batch_images``; the batch's count is first
   learned from the platform, ``batch_counter``, so the cap is exact after a
   restart and across nodes);
7. only now the image work (``prepare``), then ``outbox.put``. A full outbox
   refuses the datapoint and the credit is given back.

Nothing escapes: every failure (configuration source down, Redis down, a bad
prediction) is counted in ``metrics.collection_errors`` by cause and logged
once per cause, and ``process`` returns ``Outcome.ERROR``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from winnow.activelearning.batching import batch_name
from winnow.activelearning.capture import PrepareSpec
from winnow.activelearning.config import ActiveLearningConfig, Strategy
from winnow.activelearning.crops import crop_box, crop_objects, crop_pixels, crop_prediction
from winnow.activelearning.datapoint import CollectionContext, Datapoint, extra_problem
from winnow.activelearning.decision import UNKNOWN_WINDOW, DecisionSink, DecisionTrace
from winnow.activelearning.dedup import NearDuplicateFilter, hamming, phash
from winnow.activelearning.limits.base import BatchCap, Budget, Credit, LimitsBackend, TakeOutcome
from winnow.activelearning.outbox import Outbox, OutboxItem
from winnow.activelearning.platform_client import BatchCounter, ConfigSource, ProjectConfig
from winnow.activelearning.prepare import build_tags, prepare
from winnow.activelearning.samplers import sample
from winnow.activelearning.score_windows import ScoreWindows
from winnow.errors import OutboxFullError
from winnow.images import CapturedImage, ImageArray, captured
from winnow.metrics import Metrics
from winnow.predictions import (
    ClassificationPrediction,
    DetectionPrediction,
    Prediction,
    StubPrediction,
    TaskType,
    prediction_to_json,
)
from winnow.settings import Settings
from winnow.states import DatapointOutcome

log = logging.getLogger(__name__)

_NO_STRATEGY = "-"
_BUDGET_CACHE_MAX = 1024
_CREDITS_MAX = 65536

_BURST = 256
"""Most queued datapoints the worker decides before writing their captures in one transaction.

Large: each burst costs the worker a dozen or so SQLite calls (the limits' and
the outbox's transactions), and each call gives the GIL up and may wait up to a
switch interval to get it back beside a busy serving thread."""

_LINGER_SECONDS = 0.05
"""How long the worker waits for more datapoints after the first of a short burst."""

_Item = tuple[CapturedImage, Prediction, CollectionContext]


@dataclasses.dataclass(slots=True, frozen=True)
class _Presampled:
    """A datapoint sampled at submit (its configuration was fresh): what the worker goes on
    with, instead of asking for the configuration and sampling again."""

    project_config: ProjectConfig  # as seen from its target project
    strategies: list[Strategy]
    trace: DecisionTrace


_Queued = tuple[CapturedImage, Prediction, CollectionContext, _Presampled | None]


@dataclasses.dataclass(slots=True, frozen=True)
class _Pending:
    """A datapoint that won its credit, waiting for its outbox write."""

    item: OutboxItem
    project: str
    credit: Credit
    # (dedup key, hash, window seconds, monotonic time): remembered once queued.
    remember: tuple[str, int, float, float] | None


# The one outcome vocabulary (winnow.states), under the name callers of process() know.
Outcome = DatapointOutcome


class Collector:
    """Decides what to collect and writes it to the outbox, off the request path."""

    def __init__(
        self,
        *,
        settings: Settings,
        config_source: ConfigSource,
        limits: LimitsBackend,
        outbox: Outbox,
        metrics: Metrics,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] | None = None,
        dedup: NearDuplicateFilter | None = None,
        batch_counter: BatchCounter | None = None,
        decisions: DecisionSink | None = None,
    ) -> None:
        self.settings = settings
        # Told every decision after process() (winnow.activelearning.decision).
        self.decisions = decisions
        self.batch_counter = batch_counter
        self.config_source = config_source
        self.limits = limits
        self.outbox = outbox
        self.metrics = metrics
        self.dedup = dedup or NearDuplicateFilter()
        # The rolling windows of top_fraction strategies (bounded; see score_windows).
        self.score_windows = ScoreWindows()
        self._rng = rng or random.Random()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._queue: queue.Queue[_Queued] = queue.Queue(maxsize=settings.collector_queue_size)
        # Bytes of the images queued, bounded by settings.collector_queue_max_bytes.
        self._queued_bytes = 0
        self._queued_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged: set[str] = set()
        self._log_lock = threading.Lock()
        self._budgets: dict[str, tuple[ActiveLearningConfig, dict[str, Budget]]] = {}
        self._warned: dict[str, tuple[str, ...]] = {}
        # Credits of queued datapoints, by idempotency key, so a duplicate found at
        # delivery gives its credit back; bounded (oldest forgotten first).
        self._credits: collections.OrderedDict[str, Credit] = collections.OrderedDict()
        # When each capped batch's count was last learned from the platform (monotonic s).
        self._learned: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------ hand-off

    def submit(
        self, image: ImageArray | CapturedImage, prediction: Prediction, context: CollectionContext
    ) -> bool:
        """Queue the datapoint for collection and return at once; never raises.

        True when queued. False when collection is switched off, or when the
        queue already holds ``settings.collector_queue_size`` images: then the
        datapoint is dropped and counted (``dropped``,
        ``collection_errors{cause="queue_full"}``).
        """
        if not self.settings.active_learning_enabled:
            return False
        try:
            found = self._fresh(context)
            if found is not None and self._decided_at_once(found, image, prediction, context):
                return True
            item = captured(image)
            presampled = None if found is None else self._presample(found, prediction, context)
            if presampled is not None and not presampled.strategies:
                self._decided(item, prediction, context, presampled.trace, Outcome.NOT_SAMPLED)
                return True
            size = _item_bytes(item)
            with self._queued_lock:
                if self._queued_bytes + size > self.settings.collector_queue_max_bytes:
                    raise queue.Full
                self._queued_bytes += size
            try:
                self._queue.put_nowait((item, prediction, context, presampled))
            except queue.Full:
                with self._queued_lock:
                    self._queued_bytes -= size
                raise
        except queue.Full:
            self.metrics.datapoint(context.project, _NO_STRATEGY, Outcome.DROPPED)
            self.metrics.collection_errors.labels(cause="queue_full").inc()
            self._log_once("queue_full", "collector queue is full: datapoints are being dropped")
            return False
        except Exception as exc:  # never reach the inference client
            self._count_error("submit", exc)
            return False
        self.metrics.collector_queue.set(self._queue.qsize())
        return True

    def _fresh(self, context: CollectionContext) -> ProjectConfig | None:
        """The configuration source's fresh answer for the context's project (``fresh``,
        never loading), or None when it has none or cannot say without loading."""
        fresh = getattr(self.config_source, "fresh", None)
        return None if fresh is None else fresh(context.api_key, context.project)

    def _decided_at_once(
        self,
        project_config: ProjectConfig,
        image: ImageArray | CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
    ) -> bool:
        """Decide DISABLED here, without queueing, when the configuration source's fresh
        answer (looked up once by :meth:`submit`, :meth:`_fresh`) collects
        nothing: the worker thread is not woken for a project with collection off.
        True when decided."""
        config = project_config.config
        if config.enabled and config.batching_strategy is not None:
            return False
        if config.warnings:
            self._count_warnings(project_config)
        trace = DecisionTrace(time=self._clock())
        trace.workspace = project_config.workspace
        trace.config_version = project_config.version
        self._decided(captured(image), prediction, context, trace, Outcome.DISABLED)
        return True

    def _presample(
        self, found: ProjectConfig, prediction: Prediction, context: CollectionContext
    ) -> _Presampled | None:
        """Sample now with the configuration source's fresh answer ``found`` when nothing
        but the strategies can refuse the datapoint; None leaves it all to the worker.

        A datapoint no strategy samples (most of them, at a low rate) is then decided
        NOT_SAMPLED at submit and never queued; a sampled one carries its strategies to
        the worker, which goes on from there (the budget, the capture). Configurations
        with warnings to count, foreign targets, task mismatches and extras that are
        not JSON go to the worker whole, which counts and logs them.
        """
        if found.config.warnings:
            return None
        project_config, foreign = _targeted(found)
        if (
            foreign is not None
            or _task_mismatch(project_config.project_type, prediction) is not None
            or extra_problem(context.extra) is not None
        ):
            return None
        trace = DecisionTrace(time=self._clock())
        trace.workspace = found.workspace
        trace.config_version = found.version
        strategies = self._sample(project_config, prediction, context, trace)
        return _Presampled(project_config, strategies, trace)

    def _sample(
        self,
        project_config: ProjectConfig,
        prediction: Prediction,
        context: CollectionContext,
        trace: DecisionTrace,
    ) -> list[Strategy]:
        """The strategies that sample the datapoint (``samplers.sample``, crops that have an
        object to crop), in configuration order; recorded as matched in ``trace``."""
        shadow = None if context.shadow is None else context.shadow.prediction
        strategies = sample(
            project_config.config,
            prediction,
            self._rng,
            windows=self.score_windows,
            scope=f"{project_config.workspace}/{project_config.project}",
            shadow=shadow,
        )
        strategies = _with_crops(strategies, prediction, shadow)
        trace.matched = tuple(s.name for s in strategies)
        return strategies

    def start(self) -> None:
        """Process queued datapoints in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="winnow-collector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker after it has processed what is queued; wait up to ``timeout``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    def drain(self) -> list[Outcome]:
        """Process everything queued now, in this thread; return the outcomes in order."""
        outcomes: list[Outcome] = []
        while True:
            items = self._take_queued(block=False)
            if not items:
                break
            outcomes.extend(self.process_many(items))
        self.metrics.collector_queue.set(self._queue.qsize())
        return outcomes

    def _take_queued(self, *, block: bool) -> list[_Queued]:
        """Up to ``_BURST`` queued items (waiting up to 0.1 s for the first when ``block``)."""
        try:
            first = self._queue.get(timeout=0.1) if block else self._queue.get_nowait()
        except queue.Empty:
            return []
        items = [first]
        if block and self._queue.qsize() < _BURST - 1 and not self._stop.is_set():
            # Linger for more: every burst costs the serving thread a dozen GIL hand-offs
            # (one per SQLite call), so a trickle of datapoints is taken a few times a
            # second instead of one by one (which cost a 10% collection a third of its
            # serving rate). Collection waits; the response does not.
            self._stop.wait(_LINGER_SECONDS)
        while len(items) < _BURST:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        taken = sum(_item_bytes(item[0]) for item in items)
        with self._queued_lock:
            self._queued_bytes -= taken
        return items

    def _run(self) -> None:
        while True:
            items = self._take_queued(block=True)
            if not items:
                if self._stop.is_set():
                    return
                continue
            self.metrics.collector_queue.set(self._queue.qsize())
            self.process_many(items)

    # ------------------------------------------------------------------ decision

    def process(
        self, image: ImageArray | CapturedImage, prediction: Prediction, context: CollectionContext
    ) -> Outcome:
        """Run one datapoint through config, sampling, budget, capture and outbox; never raises.

        The image's pixels are decoded (when they are not yet) only for what needs them:
        the near-duplicate hash, and the preparation of a datapoint that won its budget
        and came without its encoded bytes (a video frame). QUEUED means durable.
        """
        return self.process_many([(captured(image), prediction, context)])[0]

    def process_many(self, items: Sequence[_Item | _Queued]) -> list[Outcome]:
        """:meth:`process` for several datapoints, in order, with ONE outbox transaction.

        Each is decided alone (so limits and the batch cap stay exact); those that
        won a credit are written together, one sync for the burst. Never raises.
        Items are ``(image, prediction, context)``, or as queued by :meth:`submit`
        (with what sampling at submit found).
        """
        decided: list[tuple[CapturedImage, DecisionTrace, Outcome | _Pending]] = []
        # Near-duplicate hashes of this burst's datapoints that won a credit (not yet remembered).
        burst_hashes: list[tuple[str, int]] = []
        burst = getattr(self.limits, "burst", None)
        try:
            # A backend with bursts (local://) decides them all in one transaction.
            with burst() if callable(burst) else contextlib.nullcontext():
                for item in items:
                    raw, prediction, context = item[0], item[1], item[2]
                    presampled = item[3] if len(item) > 3 else None
                    image = captured(raw)
                    if presampled is not None:
                        trace = presampled.trace
                    else:
                        trace = DecisionTrace(time=self._clock())
                    outcome = self._decide(
                        image, prediction, context, trace, presampled, burst_hashes
                    )
                    if isinstance(outcome, _Pending) and outcome.remember is not None:
                        key, value, _window, _at = outcome.remember
                        burst_hashes.append((key, value))
                    decided.append((image, trace, outcome))
        except Exception as exc:  # the burst's takes were not recorded: collect none of them
            self._count_error("limits", exc)
            unrecorded: list[tuple[CapturedImage, DecisionTrace, Outcome | _Pending]] = [
                (image, trace, Outcome.ERROR if isinstance(o, _Pending) else o)
                for image, trace, o in decided
            ]
            unrecorded += [
                (captured(item[0]), DecisionTrace(time=self._clock()), Outcome.ERROR)
                for item in items[len(decided) :]
            ]
            decided = unrecorded
        pending = [o for _i, _t, o in decided if isinstance(o, _Pending)]
        stored = iter(self._store(pending) if pending else [])
        outcomes: list[Outcome] = []
        for (image, trace, outcome), item in zip(decided, items, strict=True):
            prediction, context = item[1], item[2]
            final = next(stored) if isinstance(outcome, _Pending) else outcome
            outcomes.append(self._decided(image, prediction, context, trace, final))
        return outcomes

    def _decide(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        trace: DecisionTrace,
        presampled: _Presampled | None = None,
        burst_hashes: Sequence[tuple[str, int]] = (),
    ) -> Outcome | _Pending:
        if not self.settings.active_learning_enabled:
            return Outcome.DISABLED
        stage = trace.stage
        try:
            return self._process(image, prediction, context, stage, trace, presampled, burst_hashes)
        except Exception as exc:
            self._count_error(stage[0], exc)
            return Outcome.ERROR

    def _decided(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        trace: DecisionTrace,
        outcome: Outcome,
    ) -> Outcome:
        """Tell the ``decisions`` sink (if any) and return ``outcome``; the sink cannot fail it."""
        if self.decisions is not None:
            try:
                self.decisions(image, prediction, context, trace.decision(outcome))
            except Exception as exc:
                self._count_error("decisions", exc)
        return outcome

    def _process(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        stage: list[str],
        trace: DecisionTrace,
        presampled: _Presampled | None = None,
        burst_hashes: Sequence[tuple[str, int]] = (),
    ) -> Outcome | _Pending:
        if presampled is not None:  # sampled at submit: on from there
            project_config, strategies = presampled.project_config, presampled.strategies
            config, project = project_config.config, project_config.project
            if not config.enabled or config.batching_strategy is None:  # never, as presampled
                return Outcome.DISABLED
        else:
            project_config = self.config_source.get(context.api_key, context.project)
            config = project_config.config
            trace.workspace = project_config.workspace
            trace.config_version = project_config.version
            if config.warnings:
                self._count_warnings(project_config)
            if not config.enabled or config.batching_strategy is None:
                return Outcome.DISABLED
            project_config, foreign = _targeted(project_config)
            project = project_config.project
            refused = self._refusal(project_config, foreign, prediction) or self._invalid_extra(
                project_config, context
            )
            if refused is not None:
                return refused
            stage[0] = "sample"
            strategies = self._sample(project_config, prediction, context, trace)
        if not strategies:
            return Outcome.NOT_SAMPLED
        for strategy in strategies:
            self.metrics.datapoint(project, strategy.name, Outcome.SAMPLED)

        # Near-duplicates are looked up before a credit is taken, but an image is
        # only remembered once it was really queued: a frame refused by a limit
        # must not suppress the frames after it.
        dedup = config.dedup
        remember: tuple[str, int, float, float] | None = None
        if dedup is not None and dedup.enabled:
            dedup_time = time.monotonic()
            stage[0] = "dedup"
            dedup_key = f"{project_config.workspace}/{project}/{context.source}"
            dedup_hash = phash(image.pixels())
            # This burst's datapoints that won a credit are not remembered yet (they are
            # once written): an image earlier in the same burst counts too.
            if self.dedup.check_hash(
                dedup_key,
                dedup_hash,
                max_distance=dedup.max_distance,
                window_seconds=dedup.window_seconds,
                now=dedup_time,
                record=False,
            ) or any(
                key == dedup_key and hamming(value, dedup_hash) <= dedup.max_distance
                for key, value in burst_hashes
            ):
                self.metrics.datapoint(project, strategies[0].name, Outcome.DUPLICATE)
                return Outcome.DUPLICATE
            remember = (dedup_key, dedup_hash, dedup.window_seconds, dedup_time)

        stage[0] = "limits"
        now = trace.time
        scope = f"{project_config.workspace}/{project}"
        budgets = self._budgets_for(scope, config)
        batching = config.batching_strategy
        cap = BatchCap(
            scope=scope,
            batch_name=batch_name(batching.batches_name_prefix, batching.recreation_interval, now),
            max_images=batching.max_batch_images,
        )
        if cap.max_images is not None and self.batch_counter is not None:
            self._learn_batch(cap, context.api_key, project, now)
        result = self.limits.take(
            [budgets[s.name] for s in strategies], cap, now, source=context.source
        )
        taken, credit = result
        if credit is None:
            # A full batch is not a spent strategy: counted apart, so a cap set too
            # low is told from limits doing their job.
            outcome = Outcome.BATCH_FULL if taken is TakeOutcome.BATCH_FULL else Outcome.LIMITED
            # What refused, as the backend says ("batch", "<strategy>:<window>[:source]");
            # a backend that does not say gets the first matched strategy, window unknown.
            trace.limited_by = getattr(result, "limited_by", None) or (
                "batch"
                if outcome is Outcome.BATCH_FULL
                else f"{strategies[0].name}:{UNKNOWN_WINDOW}"
            )
            self.metrics.datapoint(project, strategies[0].name, outcome)
            return outcome

        stage[0] = "prepare"
        trace.paid = credit.strategy
        more = functools.partial(self._take_one, budgets[credit.strategy], cap, now, context.source)
        return self._won(
            image, prediction, context, project_config, credit, now, stage, more, remember
        )

    def _won(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        project_config: ProjectConfig,
        credit: Credit,
        now: datetime,
        stage: list[str],
        take_more: Callable[[], Credit | None],
        remember: tuple[str, int, float, float] | None,
    ) -> Outcome | _Pending:
        """A datapoint that won ``credit``: its crops written now, or its outbox item pending."""
        crops = self._crops(
            image, prediction, context, project_config, credit, now, stage, take_more
        )
        if crops is not None:
            if crops is Outcome.QUEUED and remember is not None:
                key, value, window, at = remember
                self.dedup.remember(key, value, window_seconds=window, now=at)
            return crops
        try:
            item = self._item(image, prediction, context, project_config, credit, now)
        except BaseException:
            self._give_back(credit)
            raise
        return _Pending(item, project_config.project, credit, remember)

    def _refusal(
        self, project_config: ProjectConfig, foreign: str | None, prediction: Prediction
    ) -> Outcome | None:
        """REFUSED (counted and logged once) for a foreign target or a task mismatch."""
        project = project_config.project
        if foreign is not None:
            self.metrics.datapoint(project, _NO_STRATEGY, Outcome.REFUSED.value)
            self.metrics.collection_errors.labels(cause="foreign_target_workspace").inc()
            self._log_once(
                f"foreign_target:{project_config.workspace}/{project}:{foreign}",
                "not collecting from %s/%s: target_workspace %r is not the API key's workspace",
                project_config.workspace,
                project,
                foreign,
            )
            return Outcome.REFUSED
        mismatch = _task_mismatch(project_config.project_type, prediction)
        if mismatch is not None:
            self.metrics.datapoint(project, _NO_STRATEGY, Outcome.REFUSED)
            self.metrics.collection_errors.labels(cause="task_mismatch").inc()
            self._log_once(
                f"task_mismatch:{project_config.workspace}/{project}:{mismatch}",
                "not collecting into %s/%s: %s",
                project_config.workspace,
                project,
                mismatch,
            )
            return Outcome.REFUSED
        return None

    def _invalid_extra(
        self, project_config: ProjectConfig, context: CollectionContext
    ) -> Outcome | None:
        """REFUSED (counted and logged once) for an ``extra`` that is not JSON, or None.

        The platform would refuse it (NaN, non-JSON values) with a 400: accepted here,
        it would take a credit and end ``failed`` in the outbox.
        """
        problem = extra_problem(context.extra)
        if problem is None:
            return None
        project = project_config.project
        self.metrics.datapoint(project, _NO_STRATEGY, Outcome.REFUSED)
        self.metrics.collection_errors.labels(cause="invalid_extra").inc()
        self._log_once(
            f"invalid_extra:{project_config.workspace}/{project}",
            "not collecting into %s/%s: the context's extra is not JSON (%s)",
            project_config.workspace,
            project,
            problem,
        )
        return Outcome.REFUSED

    def _take_one(self, budget: Budget, cap: BatchCap, now: datetime, source: str) -> Credit | None:
        """One more credit of ``budget`` and a batch place (a further crop), or None."""
        return self.limits.take([budget], cap, now, source=source)[1]

    def _crops(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        project_config: ProjectConfig,
        credit: Credit,
        now: datetime,
        stage: list[str],
        take_more: Callable[[], Credit | None],
    ) -> Outcome | None:
        """The outcome of collecting the image's crops, or None when the paying strategy
        collects whole images (``collect`` is not ``"crops"``, or not a detection)."""
        strategy = _strategy(project_config.config.sampling_strategies, credit.strategy)
        if strategy.collect != "crops" or not isinstance(prediction, DetectionPrediction):
            return None
        return self._put_crops(
            image, prediction, context, project_config, credit, now, stage, take_more
        )

    def _put_crops(
        self,
        image: CapturedImage,
        prediction: DetectionPrediction,
        context: CollectionContext,
        project_config: ProjectConfig,
        credit: Credit,
        now: datetime,
        stage: list[str],
        take_more: Callable[[], Credit | None],
    ) -> Outcome:
        """``collect: "crops"``: each object the strategy crops (``crops.crop_objects``)
        becomes a datapoint of its own, one credit each: the first crop uses ``credit``,
        each further one takes one more credit of the same strategy and a batch place
        (``take_more``); crops stop when either is spent. The crop's place in the image
        is the datapoint's ``extra["crop"]``. NOT_SAMPLED (credit given back) when no
        object has pixels in the image."""
        strategy = _strategy(project_config.config.sampling_strategies, credit.strategy)
        shadow = None if context.shadow is None else context.shadow.prediction
        pixels = image.pixels()
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        queued = 0
        spare: Credit | None = credit
        for index in crop_objects(strategy, prediction, shadow) or []:
            box = crop_box(prediction.detections[index], width, height, strategy.crop_padding)
            if box is None:
                continue
            current = spare if spare is not None else take_more()
            spare = None
            if current is None:
                break
            where = {"x": box.x0, "y": box.y0, "width": box.width, "height": box.height}
            crop_context = dataclasses.replace(
                context,
                extra={**context.extra, "crop": {**where, "object": index, "of": [width, height]}},
            )
            crop = captured(crop_pixels(pixels, box))
            mapped = crop_prediction(prediction, index, box)
            outcome = self._put(crop, mapped, crop_context, project_config, current, now, stage)
            if outcome is not Outcome.QUEUED:
                return Outcome.QUEUED if queued else outcome
            queued += 1
        if spare is not None:
            self._give_back(spare)
        return Outcome.QUEUED if queued else Outcome.NOT_SAMPLED

    def _put(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        project_config: ProjectConfig,
        credit: Credit,
        now: datetime,
        stage: list[str],
    ) -> Outcome:
        """One datapoint written at once (its own transaction): a crop of ``_put_crops``.

        QUEUED (counted) once durable; REFUSED (credit given back) on a full outbox.
        """
        try:
            item = self._item(image, prediction, context, project_config, credit, now)
        except BaseException:
            self._give_back(credit)
            raise
        stage[0] = "outbox"
        return self._store([_Pending(item, project_config.project, credit, None)])[0]

    def _item(
        self,
        image: CapturedImage,
        prediction: Prediction,
        context: CollectionContext,
        project_config: ProjectConfig,
        credit: Credit,
        now: datetime,
    ) -> OutboxItem:
        """The outbox item of a datapoint that won its credit.

        With the original encoded bytes at hand (an HTTP request): a capture, no
        image work here; the collection process prepares it. Without them (a
        video frame): prepared now, since encoding is needed anyway.
        """
        config = project_config.config
        strategy = _strategy(config.sampling_strategies, credit.strategy)
        persist = bool(config.persist_predictions)
        assert credit.batch is not None
        task_type = (
            prediction.task_type.value
            if isinstance(prediction, DetectionPrediction | ClassificationPrediction)
            else (prediction.task_type or project_config.project_type)
        )
        if image.original is not None:
            jpeg, width, height = image.original, image.width, image.height
            served: dict[str, Any] | None = None
            if persist and not isinstance(prediction, StubPrediction):
                served = prediction_to_json(prediction)
            capture: PrepareSpec | None = PrepareSpec(
                max_image_size=config.max_image_size,
                jpeg_quality=config.jpeg_compression_level,
                persist_predictions=persist,
                max_pixels=self.settings.max_image_pixels,
            )
        else:
            prepared = prepare(
                image.pixels(),
                prediction,
                max_image_size=config.max_image_size,
                jpeg_quality=config.jpeg_compression_level,
                persist_predictions=persist,
            )
            jpeg, width, height = prepared.jpeg, prepared.width, prepared.height
            served, capture = prepared.prediction_json, None
        datapoint = Datapoint(
            idempotency_key=uuid.uuid4().hex,
            api_key=context.api_key,
            project=project_config.project,
            batch_name=credit.batch.batch_name,
            image_jpeg=jpeg,
            width=width,
            height=height,
            prediction=served,
            task_type=task_type,
            tags=build_tags(
                self.settings.active_learning_tags,
                config.tags,
                strategy.tags,
                (*context.source_tags, *context.tags),
                context.model_id,
                persist,
            ),
            strategy=credit.strategy,
            model_id=context.model_id,
            inference_id=context.inference_id,
            source=context.source,
            source_info=context.source_info,
            config_version=project_config.version,
            created_at=now.astimezone(UTC),
            extra=dict(context.extra) or None,
        )
        return OutboxItem(datapoint, capture, credit)

    def _store(self, pending: Sequence[_Pending]) -> list[Outcome]:
        """Write the pending datapoints to the outbox in one transaction; their outcomes.

        Queued ones are durable when this returns. A full outbox refuses a
        datapoint (REFUSED, its credit given back); an outbox that cannot be
        written gives every credit back and counts the error.
        """
        try:
            results = self.outbox.put_many([p.item for p in pending])
        except Exception as exc:
            for p in pending:
                self._give_back(p.credit)
            self._count_error("outbox", exc)
            return [Outcome.ERROR] * len(pending)
        return [self._settle(p, result) for p, result in zip(pending, results, strict=True)]

    def _settle(self, pending: _Pending, result: int | OutboxFullError) -> Outcome:
        credit, project = pending.credit, pending.project
        if isinstance(result, OutboxFullError):
            self._give_back(credit)
            self.metrics.datapoint(project, credit.strategy, Outcome.REFUSED)
            self.metrics.collection_errors.labels(cause="outbox_full").inc()
            self._log_once("outbox_full", "outbox is full, datapoints are refused: %s", result)
            return Outcome.REFUSED
        with self._log_lock:
            self._credits[pending.item.datapoint.idempotency_key] = credit
            while len(self._credits) > _CREDITS_MAX:
                self._credits.popitem(last=False)
        if pending.remember is not None:
            key, value, window, at = pending.remember
            self.dedup.remember(key, value, window_seconds=window, now=at)
        self.metrics.datapoint(project, credit.strategy, Outcome.QUEUED)
        return Outcome.QUEUED

    # ------------------------------------------------------------------ helpers

    def _budgets_for(self, scope: str, config: ActiveLearningConfig) -> dict[str, Budget]:
        """Budgets are built once per configuration object, not per datapoint."""
        cached = self._budgets.get(scope)
        if cached is not None and cached[0] is config:
            return cached[1]
        budgets = {
            s.name: Budget(
                scope=scope,
                strategy=s.name,
                limits=tuple((lim.type, lim.value) for lim in s.limits if lim.per is None),
                source_limits=tuple((lim.type, lim.value) for lim in s.limits if lim.per),
            )
            for s in config.sampling_strategies
        }
        if len(self._budgets) >= _BUDGET_CACHE_MAX:
            self._budgets.clear()
        self._budgets[scope] = (config, budgets)
        return budgets

    def give_back_duplicate(self, idempotency_key: str) -> bool:
        """Give back the credit and batch place of a queued datapoint the platform found to be
        an exact duplicate (in the windows it was taken in); True if this process held it."""
        with self._log_lock:
            credit = self._credits.pop(idempotency_key, None)
        if credit is None:
            return False
        self._give_back(credit)
        return True

    def batch_refused(self, idempotency_key: str) -> bool:
        """The platform refused a queued datapoint because its batch is full: give the
        strategy credit back and remember the batch as full; True if this process held it."""
        with self._log_lock:
            credit = self._credits.pop(idempotency_key, None)
        if credit is None:
            return False
        self._give_back(dataclasses.replace(credit, batch=None))
        batch = credit.batch
        if batch is not None and batch.max_images is not None:
            try:
                self.limits.learn_batch(batch, batch.max_images, self._clock())
            except Exception as exc:
                self._count_error("batch_count", exc)
        return True

    def _learn_batch(self, cap: BatchCap, api_key: str, project: str, now: datetime) -> None:
        """Raise the batch's count to what the platform holds: at first use (so after a
        restart too), then at most every ``config_cache_seconds`` (what other nodes added)."""
        assert self.batch_counter is not None
        key = (cap.scope, cap.batch_name)
        started = time.monotonic()
        with self._log_lock:
            learned = self._learned.get(key)
            if learned is not None and started - learned < self.settings.config_cache_seconds:
                return
            if len(self._learned) >= _BUDGET_CACHE_MAX:
                self._learned.clear()
            self._learned[key] = started
        try:
            images = self.batch_counter.batch_images(api_key, project, cap.batch_name)
            # Queued here but not delivered yet (also from before a restart): places taken.
            images += self.outbox.pending_in_batch(api_key, project, cap.batch_name)
            self.limits.learn_batch(cap, images, now)
        except Exception as exc:  # the platform is down: count locally, ask again next time
            with self._log_lock:
                self._learned.pop(key, None)
            self._count_error("batch_count", exc)

    def _count_warnings(self, project_config: ProjectConfig) -> None:
        """Count (and log once) the warnings of each configuration met, once per change."""
        scope = f"{project_config.workspace}/{project_config.project}"
        warnings = project_config.config.warnings
        with self._log_lock:
            if self._warned.get(scope) == warnings:
                return
            self._warned[scope] = warnings
        self.metrics.config_warnings.labels(project=project_config.project).inc(len(warnings))
        log.warning("configuration of %s accepted with warnings: %s", scope, "; ".join(warnings))

    def _give_back(self, credit: Credit) -> None:
        try:
            self.limits.give_back(credit)
        except Exception as exc:
            self._count_error("give_back", exc)

    def _count_error(self, stage: str, exc: BaseException) -> None:
        cause = f"{stage}:{type(exc).__name__}"
        self.metrics.collection_errors.labels(cause=cause).inc()
        self._log_once(cause, "active learning %s failed (%s): %s", stage, type(exc).__name__, exc)

    def _log_once(self, cause: str, message: str, *args: object) -> None:
        # Once per cause, not per datapoint: an outage would otherwise flood the log.
        with self._log_lock:
            first = cause not in self._logged
            if first:
                self._logged.add(cause)
        if first:
            log.warning(message + " (logged once; see winnow_collection_errors)", *args)
        else:
            log.debug(message, *args)


def _item_bytes(image: CapturedImage) -> int:
    """What a queued image holds in memory: its encoded bytes, or its pixels (a video frame)."""
    if image.original is not None:
        return len(image.original)
    return image.width * image.height * 3


def _targeted(project_config: ProjectConfig) -> tuple[ProjectConfig, str | None]:
    """The configuration seen from its target project (``target_project``), as the reference.

    Uploads, limit keys and batch counts then use the target. The target stays
    within the API key's workspace: another ``target_workspace`` is returned
    second (and nothing may be collected).
    """
    config = project_config.config
    workspace = config.target_workspace
    if workspace is not None and workspace != project_config.workspace:
        return project_config, workspace
    target = config.target_project
    if target is None or target == project_config.project:
        return project_config, None
    return dataclasses.replace(project_config, project=target), None


def _with_crops(
    strategies: list[Strategy], prediction: Prediction, shadow: Prediction | None
) -> list[Strategy]:
    """The strategies without crops strategies that have no object to crop in a detection."""
    return [
        s for s in strategies if s.collect != "crops" or crop_objects(s, prediction, shadow) != []
    ]


def _strategy(strategies: Sequence[Strategy], name: str) -> Strategy:
    for strategy in strategies:
        if strategy.name == name:
            return strategy
    raise LookupError(f"credit for unknown strategy {name!r}")


def _task_mismatch(project_type: str, prediction: Prediction) -> str | None:
    """Why ``prediction`` cannot be collected into a project of ``project_type``, or None."""
    if isinstance(prediction, StubPrediction):
        return None
    # Single- and multi-label projects both take classification predictions.
    is_classification_project = project_type in (
        TaskType.CLASSIFICATION.value,
        "multi-label-classification",
    )
    if isinstance(prediction, ClassificationPrediction) and not is_classification_project:
        return f"a classification prediction does not fit a {project_type} project"
    if isinstance(prediction, DetectionPrediction) and is_classification_project:
        return f"a {prediction.task_type.value} prediction does not fit a {project_type} project"
    return None

"""Running a registered model version over labeled images, to evaluate it on production data.

The run loads the version's ONNX file with the loader that serves
(:func:`winnow.models.onnx.model.load_onnx_model`, the registry's task type,
class names and metadata), predicts every labeled or reviewed image of the
chosen batches at the default inference parameters, and stores each answer
as an :class:`~winnow.platform.schema.EvaluationPrediction` of that version
(replacing an earlier run's), in chunks so progress is visible. An
``evaluation_job`` row holds the state: ``queued`` -> ``running`` -> ``done``
(with the figures in ``result``) or ``failed`` (with ``error``).
:func:`run_job` does the work in the calling thread (the CLI, tests);
:func:`start_job` runs it on a daemon thread (the API).

A job whose process died would stay ``running``: :func:`get_job` reports a
``queued``/``running`` job ``failed`` (``error`` ``"interrupted: ..."``, and
persists that) when no thread of this process runs it and it made no progress
for :data:`STALL_SECONDS`. Several platform processes may share one database
and run each other's jobs, so only the time bound decides for a job this
process does not run. Progress time is kept in ``result`` while the job runs
(``{"progress_at": ...}``; the API shows ``result`` only when ``done``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import delete, select

from winnow.errors import BadRequestError, ConflictError, NotFoundError, WinnowError
from winnow.evaluation.query import EVALUATED_STATUSES, EvaluationSlice, evaluate_project
from winnow.images import decode_image
from winnow.models.base import InferenceParams
from winnow.platform import store
from winnow.platform.schema import Batch, EvaluationJob, EvaluationPrediction, Image, Project
from winnow.platform.service import Platform
from winnow.platform.store.datapoints import check_text
from winnow.predictions import prediction_to_json, rescale_prediction
from winnow.states import EvaluationStatus

log = logging.getLogger(__name__)
CHUNK = 16

Progress = Callable[[int, int], None]

STALL_SECONDS: Final = 900.0
"""How long a queued or running job may go without progress before a reader calls it
interrupted (unless a thread of the reading process runs it). A run records progress when it
starts and after every chunk of :data:`CHUNK` images; the bound is far above a chunk's time
and a model's load, so a slow live run in another process is not cut off."""

# The jobs a thread of this process is running, by (database, job id): those are never
# called interrupted here, however slow.
_RUNNING: set[tuple[str, int]] = set()
_RUNNING_LOCK = threading.Lock()


def job_json(job: EvaluationJob) -> dict[str, Any]:
    """The API shape of a job: id, status, progress (0..1), done, total, error, result."""
    return {
        "id": str(job.id),
        "model_id": job.model_id,
        "batches": list(job.batches),
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "progress": job.done / job.total
        if job.total
        else (1.0 if job.status == EvaluationStatus.DONE else 0.0),
        "error": job.error,
        # While running, ``result`` holds only the progress time (see module docstring).
        "result": job.result if job.status == EvaluationStatus.DONE else None,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def create_job(
    *, platform: Platform, project: Project, model_id: Any, batches: Any
) -> EvaluationJob:
    """Check the request and record a queued job; BadRequestError/NotFoundError naming the field."""
    if not isinstance(model_id, str) or "/" not in model_id:
        raise BadRequestError('model_id: required, a registered version "project/version"')
    name, _, number = model_id.rpartition("/")
    if name != project.name:
        raise BadRequestError(
            f"model_id: {model_id!r} is not a version of project {project.name!r}"
        )
    if not (number.isascii() and number.isdigit()):
        raise BadRequestError(f"model_id: version must be a number, got {number!r}")
    if (
        not isinstance(batches, list)
        or not batches
        or not all(isinstance(b, str) and b for b in batches)
    ):
        raise BadRequestError("batches: required, a non-empty list of batch names")
    check_text("model_id", model_id)
    for name in batches:
        check_text("batches", name, 256)
    with platform.db.write() as session:
        store.get_model_version(session=session, project=project, version=int(number))
        known = set(session.scalars(select(Batch.name).where(Batch.project_id == project.id)))
        missing = [b for b in batches if b not in known]
        if missing:
            raise NotFoundError(f"batches: no batch named {', '.join(map(repr, missing))}")
        job = EvaluationJob(
            project_id=project.id, model_id=model_id, batches=list(dict.fromkeys(batches))
        )
        session.add(job)
        session.flush()
        session.expunge(job)
    return job


def get_job(*, platform: Platform, project: Project, job_id: str) -> EvaluationJob:
    """The project's job ``job_id``; NotFoundError otherwise."""
    if not (job_id.isascii() and job_id.isdigit()) or len(job_id) > 10:
        raise NotFoundError(f"evaluation {job_id!r} not found")
    with platform.db.read() as session:
        job = session.get(EvaluationJob, int(job_id))
        if job is None or job.project_id != project.id:
            raise NotFoundError(f"evaluation {job_id!r} not found")
        session.expunge(job)
    if _stalled(platform, job, datetime.now(UTC)):
        job = _mark_interrupted(platform, job.id)
    return job


def _job_key(platform: Platform, job_id: int) -> tuple[str, int]:
    return platform.db.engine.url.render_as_string(hide_password=True), job_id


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _progress_at(job: EvaluationJob) -> datetime:
    """When the job last made progress: its recorded progress time, else its creation."""
    created = _aware(job.created_at)
    mark = job.result.get("progress_at") if isinstance(job.result, dict) else None
    try:
        moment = datetime.fromisoformat(mark) if isinstance(mark, str) else None
    except ValueError:
        moment = None
    return max(created, _aware(moment)) if moment is not None else created


def _stalled(platform: Platform, job: EvaluationJob, now: datetime) -> bool:
    if job.status not in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING):
        return False
    with _RUNNING_LOCK:
        if _job_key(platform, job.id) in _RUNNING:
            return False
    return (now - _progress_at(job)).total_seconds() > STALL_SECONDS


def _mark_interrupted(platform: Platform, job_id: int) -> EvaluationJob:
    """Persist ``failed`` on a stalled job, checked again under the row lock (another
    process may have just made progress); the job as it now stands."""
    with platform.db.write() as session:
        job = session.get(EvaluationJob, job_id, with_for_update=True)
        assert job is not None  # jobs are deleted only with their project
        now = datetime.now(UTC)
        if _stalled(platform, job, now):
            quiet = int((now - _progress_at(job)).total_seconds())
            job.error = (
                f"interrupted: {job.status} with no progress for {quiet} s (the bound is "
                f"{STALL_SECONDS:.0f} s) and not run by this process; the process running it "
                "probably stopped. Start the evaluation again."
            )
            job.status = EvaluationStatus.FAILED
            job.result = None
            job.finished_at = now
            log.warning("evaluation %s of %s: %s", job.id, job.model_id, job.error)
        session.flush()
        session.refresh(job)  # as a later read sees it (SQLite's naive times too)
        session.expunge(job)
    return job


def _update(platform: Platform, job_id: int, **values: Any) -> bool:
    """Set ``values`` on the job; False (nothing set) once it is failed, so a run that a
    reader called interrupted does not come back to life."""
    with platform.db.write() as session:
        job = session.get(EvaluationJob, job_id, with_for_update=True)
        if job is None or job.status == EvaluationStatus.FAILED:
            return False
        for key, value in values.items():
            setattr(job, key, value)
        return True


def _progress_mark() -> dict[str, Any]:
    return {"progress_at": datetime.now(UTC).isoformat()}


def _image_ids(platform: Platform, project: Project, batches: Sequence[str]) -> list[int]:
    with platform.db.read() as session:
        return list(
            session.scalars(
                select(Image.id)
                .join(Batch, Batch.id == Image.batch_id)
                .where(
                    Image.project_id == project.id,
                    Batch.name.in_(batches),
                    Image.status.in_(EVALUATED_STATUSES),
                )
                .order_by(Image.id)
            )
        )


def _load_model(platform: Platform, project: Project, model_id: str) -> Any:
    from winnow.models.onnx.model import load_onnx_model

    version = int(model_id.rpartition("/")[2])
    with platform.db.read() as session:
        record = store.get_model_version(session=session, project=project, version=version)
        task, names = record.task_type, list(record.class_names)
        metadata, key = dict(record.metadata_json), record.blob_key
    if task == "classification" and project.type == "multi-label-classification":
        metadata.setdefault("multi_label", True)
    return load_onnx_model(
        model_id, platform.blobs.get(key), task_type=task, class_names=names, metadata=metadata
    )


def predict_images(
    *,
    platform: Platform,
    project: Project,
    model_id: str,
    image_ids: Sequence[int],
    progress: Progress | None = None,
) -> int:
    """Run ``model_id`` over the images and store its evaluation predictions; returns the count."""
    model = _load_model(platform, project, model_id)
    params = InferenceParams()
    max_pixels = platform.settings.max_image_pixels
    done = 0
    for start in range(0, len(image_ids), CHUNK):
        chunk = image_ids[start : start + CHUNK]
        with platform.db.read() as session:
            rows = [
                (i.id, i.blob_key)
                for i in session.scalars(select(Image).where(Image.id.in_(chunk)))
            ]
        arrays = [decode_image(platform.blobs.get(key), max_pixels=max_pixels) for _, key in rows]
        predictions = model.infer(arrays, params)
        bodies = []
        for (image_id, _), array, prediction in zip(rows, arrays, predictions, strict=True):
            height, width = array.shape[:2]
            fitted = rescale_prediction(prediction, width, height)
            bodies.append((image_id, json.dumps(prediction_to_json(fitted))))
        with platform.db.write() as session:
            session.execute(
                delete(EvaluationPrediction).where(
                    EvaluationPrediction.project_id == project.id,
                    EvaluationPrediction.model_id == model_id,
                    EvaluationPrediction.image_id.in_([i for i, _ in bodies]),
                )
            )
            session.add_all(
                EvaluationPrediction(
                    project_id=project.id, image_id=i, model_id=model_id, body=body
                )
                for i, body in bodies
            )
        done += len(chunk)
        if progress is not None:
            progress(done, len(image_ids))
    return done


def run_job(
    *, platform: Platform, project: Project, job: EvaluationJob, progress: Progress | None = None
) -> dict[str, Any]:
    """Run a queued job to its end in this thread; the figures (also stored on the job).

    While it runs, readers of this process never call the job interrupted.
    """
    key = _job_key(platform, job.id)
    with _RUNNING_LOCK:
        _RUNNING.add(key)
    try:
        return _run_job(platform=platform, project=project, job=job, progress=progress)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(key)


def _run_job(
    *, platform: Platform, project: Project, job: EvaluationJob, progress: Progress | None
) -> dict[str, Any]:
    image_ids = _image_ids(platform, project, job.batches)
    started = _update(
        platform,
        job.id,
        status=EvaluationStatus.RUNNING,
        total=len(image_ids),
        done=0,
        result=_progress_mark(),
    )
    if not started:
        raise ConflictError(f"evaluation {job.id} was reported interrupted before it started")

    def step(done: int, total: int) -> None:
        if not _update(platform, job.id, done=done, result=_progress_mark()):
            raise ConflictError(f"evaluation {job.id} was reported interrupted; run stopped")
        if progress is not None:
            progress(done, total)

    try:
        predict_images(
            platform=platform,
            project=project,
            model_id=job.model_id,
            image_ids=image_ids,
            progress=step,
        )
        where = EvaluationSlice(model_id=job.model_id, batches=tuple(job.batches))
        with platform.db.read() as session:
            result = evaluate_project(session=session, project=project, where=where)
    except Exception as exc:
        message = exc.message if isinstance(exc, WinnowError) else f"{type(exc).__name__}: {exc}"
        log.exception("evaluation %s of %s failed", job.id, job.model_id)
        _update(
            platform,
            job.id,
            status=EvaluationStatus.FAILED,
            error=message,
            result=None,
            finished_at=datetime.now(UTC),
        )
        raise
    _update(
        platform, job.id, status=EvaluationStatus.DONE, result=result, finished_at=datetime.now(UTC)
    )
    return result


def start_job(*, platform: Platform, project: Project, job: EvaluationJob) -> threading.Thread:
    """Run ``job`` on a daemon thread; its state is read back with :func:`get_job`."""

    def target() -> None:
        try:
            run_job(platform=platform, project=project, job=job)
        except Exception:  # recorded on the job by run_job
            log.debug("evaluation %s ended in failure", job.id)

    thread = threading.Thread(target=target, name=f"evaluation-{job.id}", daemon=True)
    thread.start()
    return thread

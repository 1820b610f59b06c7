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
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from winnow.errors import BadRequestError, NotFoundError, WinnowError
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
        "result": job.result,
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
    return job


def _update(platform: Platform, job_id: int, **values: Any) -> None:
    with platform.db.write() as session:
        job = session.get(EvaluationJob, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


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
    """Run a queued job to its end in this thread; the figures (also stored on the job)."""
    image_ids = _image_ids(platform, project, job.batches)
    _update(platform, job.id, status=EvaluationStatus.RUNNING, total=len(image_ids), done=0)

    def step(done: int, total: int) -> None:
        _update(platform, job.id, done=done)
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

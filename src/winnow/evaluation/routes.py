"""Evaluation routes under ``/v1/projects/{project}``: figures, comparison, yield, runs.

A module-level router: the platform comes from the app's lifespan state and
the caller's workspace from its API key, as for every ``/v1`` route. The
slice query parameters are the same on ``/evaluation`` and
``/evaluation/compare``: ``model_id``, ``batch`` (repeatable), ``strategy``,
``config_version``, ``source``, ``tag``, ``since`` and ``until`` (UTC days,
inclusive).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from winnow.errors import BadRequestError, ServiceUnavailableError
from winnow.evaluation import jobs
from winnow.evaluation.query import EvaluationSlice, compare_versions, evaluate_project, parse_day
from winnow.evaluation.yield_ import rule_yield
from winnow.http.jsonbody import json_body
from winnow.platform.deps import api_key_of
from winnow.platform.schema import Project
from winnow.platform.service import Platform
from winnow.platform.store.datapoints import check_text

router = APIRouter(prefix="/v1/projects/{project}", tags=["evaluation"])
MAX_DAYS = 366


def platform_of(request: Request) -> Platform:
    """The platform opened by the app's lifespan (503 on an inference-only node)."""
    platform = getattr(request.app.state, "platform", None)
    if platform is None:
        raise ServiceUnavailableError("this node runs no platform")
    return platform  # type: ignore[no-any-return]


def project_of(project: str, request: Request) -> tuple[Platform, Project]:
    """The caller's project named in the path (401 without a key, 404 when unknown)."""
    platform = platform_of(request)
    workspace = platform.workspace(api_key_of(request))
    return platform, platform.project(workspace, project)


Target = Annotated[tuple[Platform, Project], Depends(project_of)]


def slice_of(
    model_id: str | None = None,
    batch: Annotated[list[str] | None, Query()] = None,
    strategy: str | None = None,
    config_version: int | None = None,
    source: str | None = None,
    tag: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> EvaluationSlice:
    """The evaluation slice of the query string (400 naming a bad parameter)."""
    # NUL and control characters would reach the database (PostgreSQL refuses NUL with a 500).
    for name, value in (("model_id", model_id), ("strategy", strategy), ("source", source)):
        check_text(name, value)
    check_text("tag", tag, 64)
    for value in batch or ():
        check_text("batch", value, 256)
    if config_version is not None and not 0 <= config_version < 2**31:
        raise BadRequestError("config_version: must be between 0 and 2147483647")
    return EvaluationSlice(
        model_id=model_id or None,
        batches=tuple(b for b in batch or () if b),
        strategy=strategy or None,
        config_version=config_version,
        source=source or None,
        tag=tag or None,
        since=parse_day("since", since),
        until=parse_day("until", until),
    )


Slice = Annotated[EvaluationSlice, Depends(slice_of)]


@router.get("/evaluation", summary="How good a model version is on the labeled images")
def evaluation(target: Target, where: Slice) -> dict[str, Any]:
    """mAP, precision/recall, per-class figures and the confusion matrix of a slice."""
    platform, project = target
    with platform.db.read() as session:
        return evaluate_project(session=session, project=project, where=where)


@router.get("/evaluation/compare", summary="Two model versions side by side")
def compare(target: Target, where: Slice, a: str, b: str) -> dict[str, Any]:
    """Versions ``a`` and ``b`` on the images both predicted, with ``b - a`` per class."""
    platform, project = target
    check_text("a", a)
    check_text("b", b)
    if a == b:
        raise BadRequestError("b: must name another version than a")
    with platform.db.read() as session:
        return compare_versions(session=session, project=project, where=where, a=a, b=b)


@router.get("/yield", summary="Which sampling rule finds the model's mistakes")
def rule_yield_route(target: Target, days: int = 30) -> dict[str, Any]:
    """Stored, labeled and corrected images per strategy and config version, and per day."""
    if not 1 <= days <= MAX_DAYS:
        raise BadRequestError(f"days: must be between 1 and {MAX_DAYS}")
    platform, project = target
    with platform.db.read() as session:
        return rule_yield(session=session, project=project, days=days)


@router.post("/evaluations", status_code=202, summary="Run a model version over labeled batches")
async def start_evaluation(target: Target, request: Request) -> JSONResponse:
    """Start a background run; answers the job (``id``, ``status``) to poll."""
    platform, project = target
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequestError('body: must be {"model_id": "P/N", "batches": [...]}')

    def start() -> dict[str, Any]:
        job = jobs.create_job(
            platform=platform,
            project=project,
            model_id=body.get("model_id"),
            batches=body.get("batches"),
        )
        jobs.start_job(platform=platform, project=project, job=job)
        return jobs.job_json(job)

    return JSONResponse(status_code=202, content=await run_in_threadpool(start))


@router.get("/evaluations/{job_id}", summary="A run's status, progress and figures")
def evaluation_job(target: Target, job_id: str) -> dict[str, Any]:
    """``status`` (queued, running, done, failed), ``progress`` and, when done, ``result``."""
    platform, project = target
    return jobs.job_json(jobs.get_job(platform=platform, project=project, job_id=job_id))

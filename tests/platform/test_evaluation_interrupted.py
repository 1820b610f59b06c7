"""Evaluation jobs whose process died are reported failed ("interrupted: ...") by a reader."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from tests.evaluation.data import API_KEY, CAR, add_image, det, register_constant_model
from tests.factories import new_project
from tests.server.asgi_client import ASGIClient
from winnow.errors import ConflictError
from winnow.evaluation import jobs
from winnow.evaluation.routes import router as evaluation_router
from winnow.http.errors import install_error_handlers
from winnow.platform.schema import EvaluationJob, Project
from winnow.platform.service import Platform

AUTH = {"Authorization": f"Bearer {API_KEY}"}
LONG_AGO = timedelta(seconds=jobs.STALL_SECONDS + 60)


@pytest.fixture
def api(platform: Platform) -> Iterator[ASGIClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = platform
    app.include_router(evaluation_router)
    with ASGIClient(app) as client:
        yield client


@pytest.fixture
def project(platform: Platform) -> Project:
    new_project(platform, "cars")
    for seed in range(3):
        add_image(platform, seed, det(CAR), det(CAR))
    register_constant_model(platform, "cars/3")
    project, _record = platform.model_version(platform.workspace(API_KEY), "cars", 3)
    return project


def _new_job(platform: Platform, project: Project) -> EvaluationJob:
    return jobs.create_job(platform=platform, project=project, model_id="cars/3", batches=["b1"])


def _set(platform: Platform, job_id: int, **values: Any) -> None:
    """Write the row as another process would have left it."""
    with platform.db.write() as session:
        job = session.get(EvaluationJob, job_id)
        assert job is not None
        for key, value in values.items():
            setattr(job, key, value)


def _stored(platform: Platform, job_id: int) -> EvaluationJob:
    with platform.db.read() as session:
        job = session.get(EvaluationJob, job_id)
        assert job is not None
        session.expunge(job)
    return job


def test_a_running_job_whose_process_died_reads_failed_and_stays_failed(
    api: ASGIClient, platform: Platform, project: Project
) -> None:
    job = _new_job(platform, project)
    then = datetime.now(UTC) - LONG_AGO
    _set(
        platform,
        job.id,
        status="running",
        total=3,
        done=1,
        created_at=then,
        result={"progress_at": then.isoformat()},
    )
    state = api.get(f"/v1/projects/cars/evaluations/{job.id}", headers=AUTH).json()
    assert state["status"] == "failed"
    assert state["error"].startswith("interrupted: running with no progress for ")
    assert state["result"] is None
    assert state["finished_at"] is not None
    stored = _stored(platform, job.id)
    assert (stored.status, stored.error) == ("failed", state["error"])
    again = api.get(f"/v1/projects/cars/evaluations/{job.id}", headers=AUTH).json()
    assert again == state


def test_a_queued_job_never_started_reads_failed_after_the_bound(
    api: ASGIClient, platform: Platform, project: Project
) -> None:
    fresh, old = _new_job(platform, project), _new_job(platform, project)
    _set(platform, old.id, created_at=datetime.now(UTC) - LONG_AGO)
    assert api.get(f"/v1/projects/cars/evaluations/{fresh.id}", headers=AUTH).json()["status"] == (
        "queued"
    )
    state = api.get(f"/v1/projects/cars/evaluations/{old.id}", headers=AUTH).json()
    assert state["status"] == "failed"
    assert state["error"].startswith("interrupted: queued with no progress")
    assert _stored(platform, fresh.id).status == "queued"


def test_an_old_job_another_process_is_progressing_stays_running(
    api: ASGIClient, platform: Platform, project: Project
) -> None:
    job = _new_job(platform, project)
    recent = datetime.now(UTC) - timedelta(seconds=5)
    _set(
        platform,
        job.id,
        status="running",
        created_at=datetime.now(UTC) - 3 * LONG_AGO,
        result={"progress_at": recent.isoformat()},
    )
    state = api.get(f"/v1/projects/cars/evaluations/{job.id}", headers=AUTH).json()
    assert (state["status"], state["error"], state["result"]) == ("running", None, None)


def test_a_job_a_thread_of_this_process_runs_is_never_called_interrupted(
    platform: Platform, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "CHUNK", 1)
    job = _new_job(platform, project)
    seen: list[str] = []

    def step(done: int, _total: int) -> None:
        then = datetime.now(UTC) - 2 * LONG_AGO
        _set(platform, job.id, created_at=then, result={"progress_at": then.isoformat()})
        seen.append(jobs.get_job(platform=platform, project=project, job_id=str(job.id)).status)

    result = jobs.run_job(platform=platform, project=project, job=job, progress=step)
    assert seen == ["running"] * 3
    assert result["images"] == 3
    assert _stored(platform, job.id).status == "done"


def test_a_run_another_process_called_interrupted_stops_and_stays_failed(
    platform: Platform, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "CHUNK", 1)
    job = _new_job(platform, project)

    def step(done: int, _total: int) -> None:
        if done == 1:  # a reader elsewhere found it stalled
            _set(platform, job.id, status="failed", error="interrupted: elsewhere")

    with pytest.raises(ConflictError, match="reported interrupted"):
        jobs.run_job(platform=platform, project=project, job=job, progress=step)
    stored = _stored(platform, job.id)
    assert (stored.status, stored.error, stored.done) == ("failed", "interrupted: elsewhere", 1)

"""The Evaluation page (``/app/projects/{project}/evaluation``): figures, pictures, worst images.

Server-rendered from :func:`winnow.evaluation.query.evaluate_project` with the
same slice as ``GET /v1/projects/{project}/evaluation``; with ``a`` and ``b``
it also shows :func:`~winnow.evaluation.query.compare_versions` side by side.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from winnow.evaluation.query import EvaluationSlice, compare_versions, evaluate_project, parse_day
from winnow.platform import store
from winnow.platform.schema import EvaluationPrediction, Image, Project, Workspace
from winnow.web.context import WebDep
from winnow.web.evaluation_charts import confusion_svg, pr_curves_svg


def add_evaluation_page(router: APIRouter) -> None:
    """Register the Evaluation page on the web UI's router (``winnow.web.routes.router``)."""
    router.get("/projects/{project}/evaluation", name="evaluation")(evaluation_page)


def evaluation_page(
    request: Request,
    ctx: WebDep,
    project: str,
    model_id: str | None = None,
    batch: Annotated[list[str] | None, Query()] = None,
    strategy: str | None = None,
    since: str | None = None,
    until: str | None = None,
    a: str | None = None,
    b: str | None = None,
) -> Response:
    workspace = ctx.require(request)
    where = EvaluationSlice(
        model_id=model_id or None,
        batches=tuple(x for x in batch or () if x),
        strategy=strategy or None,
        since=parse_day("since", since),
        until=parse_day("until", until),
    )
    with ctx.platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        report = evaluate_project(session=session, project=target, where=where)
        comparison = None
        if a and b and a != b:
            comparison = compare_versions(session=session, project=target, where=where, a=a, b=b)
        models = _model_choices(session, workspace, target)
        batches = [x.batch.name for x in store.list_batches(session=session, project=target)]
    pr_svg, pr_legend = pr_curves_svg(report["per_class"])
    return ctx.render(
        request,
        "evaluation.html",
        workspace=workspace,
        project=target,
        report=report,
        comparison=comparison,
        models=models,
        batches=batches,
        where=where,
        a=a or "",
        b=b or "",
        pr_svg=pr_svg,
        pr_legend=pr_legend,
        confusion_svg=confusion_svg(report.get("confusion")),
        detection="map" in report,
        fmt=_fmt,
    )


def _model_choices(session: Session, workspace: Workspace, target: Project) -> list[str]:
    """Model ids the page offers: registered versions, served ones, and evaluation-run ones."""
    registered = [
        f"{p.name}/{m.version}"
        for p, m in store.list_model_versions(session=session, workspace=workspace, project=target)
    ]
    served = session.scalars(
        select(Image.model_id)
        .where(Image.project_id == target.id, Image.model_id.is_not(None))
        .distinct()
    )
    evaluated = session.scalars(
        select(EvaluationPrediction.model_id)
        .where(EvaluationPrediction.project_id == target.id)
        .distinct()
    )
    return sorted(set(registered) | {str(m) for m in served} | set(evaluated))


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return str(value)

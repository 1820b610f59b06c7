"""The web UI's HTML pages: sign-in, projects, overview, configuration, batch grid, labeling.

``router`` (module level) holds every page under ``/app`` and, after them,
the JSON/bytes endpoints the pages call (:mod:`winnow.web.api`); each route
gets its :class:`~winnow.web.context.WebContext` as ``ctx: WebDep``. Mount the
static files with
:func:`winnow.web.assets.mount_static`. Pages are server-rendered; each runs
a handful of indexed queries whatever the project size.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from winnow.activelearning.config import validate_config
from winnow.errors import BadRequestError, InvalidConfigError, UnauthorizedError
from winnow.evaluation.yield_ import rule_yield
from winnow.platform import labeling, store
from winnow.platform.export.formats import ExportFormat
from winnow.platform.export.rows import project_classes
from winnow.platform.schema import IMAGE_STATUSES, PROJECT_TYPES
from winnow.platform.sessions import clear_cookie, set_cookie
from winnow.platform.store.listing import get_batch
from winnow.platform.store.shadow import daily_disagreement
from winnow.settings import Role
from winnow.web import api
from winnow.web.context import PageRoute, WebDep, script_json
from winnow.web.drift_charts import DRIFT_WINDOWS, drift_view
from winnow.web.editor import thumbnail_shapes
from winnow.web.evaluation_page import add_evaluation_page
from winnow.web.insights import config_diff, daily_chart, strategy_rows
from winnow.web.label_view import editor_data, read_label_view
from winnow.web.predictions_page import add_predictions_page, why

PAGE_SIZE = 48
CHART_DAYS = 30
DEFAULT_CONFIG = {"enabled": False}


def _safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _filters_query(
    status: str | None, strategy: str | None, tag: str | None, source: str | None = None
) -> str:
    pairs = (("status", status), ("strategy", strategy), ("tag", tag), ("source", source))
    return urlencode({k: v for k, v in pairs if v})


def _qs(
    status: str | None, strategy: str | None, tag: str | None, source: str | None = None
) -> str:
    query = _filters_query(status, strategy, tag, source)
    return f"?{query}" if query else ""


router = APIRouter(prefix="/app", route_class=PageRoute, include_in_schema=False)
add_evaluation_page(router)
add_predictions_page(router)


@router.get("/login", name="login", response_class=HTMLResponse)
def login(request: Request, ctx: WebDep, next: str | None = None) -> Response:
    return ctx.render(request, "login.html", next_url=next or "", error=None)


@router.post("/login", name="login_post")
def login_post(
    request: Request,
    ctx: WebDep,
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        value, _workspace = ctx.platform.sessions.sign_in(api_key.strip())
    except UnauthorizedError as exc:
        return ctx.render(request, "login.html", status=401, next_url=next, error=exc.message)
    home = request.url_for("projects").path
    response = RedirectResponse(_safe_next(next, home), status_code=303)
    set_cookie(request, response, value)
    return response


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(request.url_for("login").path, status_code=303)
    clear_cookie(request, response)
    return response


@router.get("/", name="projects", response_class=HTMLResponse)
def projects(request: Request, ctx: WebDep, error: str | None = None) -> Response:
    workspace = ctx.require(request)
    with ctx.platform.db.read() as session:
        rows = store.list_projects(session=session, workspace=workspace)
        ids = [p.id for p in rows]
        counts = labeling.project_status_counts(session=session, project_ids=ids)
        batches = labeling.project_batch_counts(session=session, project_ids=ids)
        items = [
            {
                "name": p.name,
                "type": p.type,
                "created_at": p.created_at,
                "counts": counts[p.id],
                "images": counts[p.id].total,
                "batches": batches.get(p.id, 0),
            }
            for p in rows
        ]
    return ctx.render(
        request,
        "projects.html",
        workspace=workspace,
        projects=items,
        project_types=PROJECT_TYPES,
        error=error,
    )


@router.post("/projects", name="project_create")
def project_create(
    request: Request,
    ctx: WebDep,
    name: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
) -> Response:
    workspace = ctx.require(request, write=True)
    with ctx.platform.db.write() as session:
        store.create_project(session=session, workspace=workspace, name=name.strip(), type=type)
    return RedirectResponse(request.url_for("project", project=name.strip()).path, status_code=303)


@router.get("/projects/{project}", name="project", response_class=HTMLResponse)
def project_page(request: Request, ctx: WebDep, project: str, drift: str = "24h") -> Response:
    if drift not in DRIFT_WINDOWS:
        raise BadRequestError("drift: must be one of " + ", ".join(DRIFT_WINDOWS))
    workspace = ctx.require(request)
    with ctx.platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        config = store.get_al_config(session=session, project=target)
        per_batch = labeling.batch_status_counts(session=session, project=target)
        batches = [
            {
                "name": b.batch.name,
                "created_at": b.batch.created_at,
                "images": b.images,
                "labeled": per_batch.get(b.batch.id, labeling.StatusCounts()).labeled,
                "reviewed": per_batch.get(b.batch.id, labeling.StatusCounts()).reviewed,
                "held_out": b.batch.held_out,
            }
            for b in store.list_batches(session=session, project=target)
        ]
        axis, series = labeling.daily_counts(session=session, project=target, days=CHART_DAYS)
        stored = {
            s.name: s.counts for s in labeling.strategy_counts(session=session, project=target)
        }
        rules = rule_yield(session=session, project=target, days=CHART_DAYS)
        shadow_days = daily_disagreement(session=session, project=target, days=CHART_DAYS)
    summary = ""
    configured: list[str] = []
    if config is not None:
        try:
            model = validate_config(config.config)
            summary = model.summary()
            configured = [s.name for s in model.sampling_strategies]
        except InvalidConfigError:
            summary = "stored configuration no longer validates"
    local = _local_outcomes(request, target.name, ctx.platform.settings.role)
    strategies = strategy_rows(configured, stored, local)
    return ctx.render(
        request,
        "project.html",
        workspace=workspace,
        project=target,
        config=config,
        summary=summary,
        batches=batches,
        chart=daily_chart(axis, series),
        rules=rules["rules"],
        yield_chart=daily_chart(
            axis,
            {
                name: [day["corrected"] for day in days]
                for name, days in rules["days"]["strategies"].items()
            },
        ),
        strategies=strategies,
        metrics_local=local is not None,
        formats=[f.value for f in ExportFormat],
        shadow_days=shadow_days,
        drift=drift_view(
            ctx.platform,
            workspace=workspace.name,
            project=target.name,
            days=DRIFT_WINDOWS[drift],
        ),
        drift_window=drift,
        drift_windows=list(DRIFT_WINDOWS),
    )


@router.get("/projects/{project}/config", name="config", response_class=HTMLResponse)
def config_page(request: Request, ctx: WebDep, project: str, diff: int | None = None) -> Response:
    workspace = ctx.require(request)
    with ctx.platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        versions = store.list_al_config_versions(session=session, project=target)
    current: Any = versions[0].config if versions else DEFAULT_CONFIG
    diff_view = None
    if diff is not None:
        by_version = {v.version: v for v in versions}
        older = [v for v in versions if v.version < diff]
        if diff in by_version and older:
            diff_view = config_diff(
                older[0].version, older[0].config, diff, by_version[diff].config
            )
    return ctx.render(
        request,
        "config.html",
        workspace=workspace,
        project=target,
        versions=versions,
        text=json.dumps(current, indent=2),
        diff=diff_view,
    )


@router.get("/projects/{project}/batches/{batch:batch}", name="batch", response_class=HTMLResponse)
def batch_page(
    request: Request,
    ctx: WebDep,
    project: str,
    batch: str,
    status: str | None = None,
    strategy: str | None = None,
    tag: str | None = None,
    source: str | None = None,
    cursor: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    workspace = ctx.require(request)
    status, strategy, tag, source = status or None, strategy or None, tag or None, source or None
    with ctx.platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        record = get_batch(session=session, project=target, name=batch)
        filters = store.ImageFilters(
            batch=batch, tag=tag, strategy=strategy, status=status, source=source
        )
        images, next_cursor = store.list_images(
            session=session, project=target, filters=filters, limit=PAGE_SIZE, cursor=cursor
        )
        chosen = labeling.latest_annotations(session=session, image_ids=[i.id for i in images])
        classes = project_classes(session=session, project=target)
        names = labeling.strategy_names(session=session, project=target)
        sources = labeling.batch_sources(session=session, batch=record)
        if source is not None and source not in sources:
            sources.append(source)  # the select shows the filter in force, listed or not
        tags = labeling.batch_tags(session=session, batch=record)
    items = []
    for image in images:
        row = chosen.get(image.id)
        shapes, label = thumbnail_shapes(
            target.type, row.format if row else None, row.body if row else None, classes
        )
        stroke = max(1.0, max(image.width, image.height) / 150)
        items.append({"image": image, "shapes": shapes, "label": label, "stroke": round(stroke, 1)})
    return ctx.render(
        request,
        "batch.html",
        workspace=workspace,
        project=target,
        batch=record,
        items=items,
        images=images,
        next_cursor=next_cursor,
        page=page,
        statuses=IMAGE_STATUSES,
        strategy_names=names,
        sources=sources,
        tags=tags,
        filters={"status": status, "strategy": strategy, "tag": tag, "source": source},
        query=_filters_query(status, strategy, tag, source),
        qs=_qs(status, strategy, tag, source),
    )


@router.get("/projects/{project}/images/{image_id}", name="label", response_class=HTMLResponse)
def label_page(
    request: Request,
    ctx: WebDep,
    project: str,
    image_id: str,
    status: str | None = None,
    strategy: str | None = None,
    tag: str | None = None,
    source: str | None = None,
) -> Response:
    workspace = ctx.require(request)
    status, strategy, tag, source = status or None, strategy or None, tag or None, source or None
    with ctx.platform.db.read() as session:
        view = read_label_view(
            session,
            workspace,
            project,
            image_id,
            status=status,
            strategy=strategy,
            tag=tag,
            source=source,
        )
    query = _filters_query(status, strategy, tag, source)
    suffix = f"?{query}" if query else ""
    data = editor_data(request, view, suffix)
    record = None
    if view.image.inference_id:  # why it was collected: its prediction record, once shipped
        received = view.image.received_at
        if received.tzinfo is None:  # SQLite gives naive UTC
            received = received.replace(tzinfo=UTC)
        record = ctx.platform.predictions.find(
            workspace.name, view.image.inference_id, around=received
        )
        if record is not None:
            record["why"] = why(record)
    return ctx.render(
        request,
        "label.html",
        record=record,
        workspace=workspace,
        project=view.project,
        batch=view.batch,
        image=view.image,
        task=view.project.type,
        source_kind=view.row.kind if view.row else None,
        prev_url=data["prev_url"],
        next_url=data["next_url"],
        qs=suffix,
        data_json=script_json(data),
    )


def _local_outcomes(request: Request, project: str, role: Role) -> dict[str, dict[str, int]] | None:
    """Datapoint outcomes by strategy counted by this process's inference role, if it runs one."""
    if role is Role.PLATFORM:
        return None
    services = getattr(request.app.state, "services", None)
    metrics = getattr(services, "metrics", None) or getattr(request.app.state, "metrics", None)
    counter = getattr(metrics, "datapoints", None)
    if counter is None:
        return None
    outcomes: dict[str, dict[str, int]] = {}
    for family in counter.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total") or sample.labels.get("project") != project:
                continue
            strategy = sample.labels.get("strategy", "")
            outcome = sample.labels.get("outcome", "")
            outcomes.setdefault(strategy, {})[outcome] = int(sample.value)
    return outcomes


# The endpoints the pages call answer JSON errors (their own route class), after the pages.
router.include_router(api.router)

__all__ = ["router"]

"""``POST /v1/projects/{project}/backtest``: a configuration replayed over the logged predictions.

Body: ``{"config": {...}, "since": "<ISO time>", "until": "<ISO time>", "seed": 0}``
(``until`` defaults to now, ``since`` to a day before it; durations such as
``24h`` are relative to now). An invalid configuration gets the field errors
of a save (``400``, ``errors``); the answer is
:func:`winnow.backtest.engine.backtest`'s figures.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from winnow.errors import BadRequestError
from winnow.http.jsonbody import json_body
from winnow.platform.deps import PlatformDep, WorkspaceDep
from winnow.platform.routes.openapi import json_body as json_schema

BODY = json_schema(
    {
        "type": "object",
        "required": ["config"],
        "properties": {
            "config": {"type": "object", "description": "An active learning configuration."},
            "since": {
                "type": "string",
                "description": "Start (inclusive): ISO 8601 (UTC without a zone) or 30m/24h/7d "
                "back from now; default a day before until.",
            },
            "until": {"type": "string", "description": "End (exclusive); default now."},
            "seed": {"type": "integer", "minimum": 0, "description": "Seed of the draws."},
        },
    }
)

router = APIRouter(prefix="/v1/projects/{project}", tags=["backtest"])


@router.post(
    "/backtest",
    summary="Replay the logged predictions through a configuration",
    openapi_extra=BODY,
)
async def backtest_route(
    project: str, request: Request, platform: PlatformDep, workspace: WorkspaceDep
) -> dict[str, Any]:
    """What the configuration would have collected in the window, beside what was collected."""
    body = await json_body(request)
    if not isinstance(body, dict) or "config" not in body:
        raise BadRequestError('body: must be {"config": {...}, "since": ..., "until": ...}')
    from winnow.backtest import service  # pyarrow and DuckDB: loaded on first use

    since, until = service.window(body.get("since"), body.get("until"))
    seed = service.seed_of(body.get("seed"))
    config = body["config"]

    def run() -> dict[str, Any]:
        return service.run(
            platform,
            workspace=workspace,
            project=platform.project(workspace, project),
            config=config,
            since=since,
            until=until,
            seed=seed,
        )

    return await run_in_threadpool(run)

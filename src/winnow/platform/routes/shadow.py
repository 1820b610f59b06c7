"""Shadow model counts: inference nodes report them, the overview and the API read them.

``PUT /v1/projects/{project}/shadow-counts`` takes a node's totals per UTC day
(``winnow.platform.store.shadow``: each row keeps the larger figures, so a
repeated report counts once); ``GET`` returns the daily disagreement rate.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from winnow.http.jsonbody import json_body
from winnow.platform.deps import PlatformDep, WorkspaceDep
from winnow.platform.store.shadow import (
    check_shadow_counts,
    daily_disagreement,
    record_shadow_counts,
)

router = APIRouter(prefix="/v1", tags=["native API"])


@router.put(
    "/projects/{project}/shadow-counts",
    summary="Report an inference node's shadow model runs and disagreements per day",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["counts"],
                        "properties": {
                            "counts": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": [
                                        "day",
                                        "node",
                                        "model_id",
                                        "runs",
                                        "disagreements",
                                    ],
                                    "properties": {
                                        "day": {"type": "string", "format": "date"},
                                        "node": {"type": "string"},
                                        "model_id": {"type": "string"},
                                        "runs": {"type": "integer", "minimum": 0},
                                        "disagreements": {"type": "integer", "minimum": 0},
                                    },
                                },
                            }
                        },
                    }
                }
            },
        }
    },
)
async def report_shadow_counts(
    project: str, request: Request, workspace: WorkspaceDep, platform: PlatformDep
) -> dict[str, Any]:
    counts = check_shadow_counts(await json_body(request))

    def write() -> None:
        target = platform.project(workspace, project)
        with platform.db.write() as session:
            record_shadow_counts(session=session, project=target, counts=counts)

    await run_in_threadpool(write)
    return {"recorded": len(counts)}


@router.get(
    "/projects/{project}/shadow-counts",
    summary="Shadow model runs, disagreements and their rate per UTC day",
)
def shadow_counts(
    project: str,
    workspace: WorkspaceDep,
    platform: PlatformDep,
    days: int = Query(14, ge=1, le=366),
) -> dict[str, Any]:
    target = platform.project(workspace, project)
    with platform.db.read() as session:
        rows = daily_disagreement(session=session, project=target, days=days)
    return {
        "days": [
            {
                "day": r.day,
                "model_id": r.model_id,
                "runs": r.runs,
                "disagreements": r.disagreements,
                "rate": r.rate,
            }
            for r in rows
        ]
    }

"""What the native (``/v1``) and reference routes do alike: register an upload, save an AL config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from winnow.activelearning.datapoint import DatapointMetadata
from winnow.http.forms import Multipart, read_multipart
from winnow.platform import store
from winnow.platform.deps import api_key_of
from winnow.platform.schema import AlConfigVersion, Project, Workspace
from winnow.platform.service import Platform


async def register_upload(
    request: Request,
    platform: Platform,
    workspace: Workspace,
    project: str,
    datapoint: Callable[[Multipart], DatapointMetadata],
) -> store.RegisterResult:
    """Register the multipart body's ``file`` part as described by ``datapoint(form)``.

    The body is read up to ``max_upload_bytes`` (413 past it); a missing
    ``file`` part is a 400 before ``datapoint`` is asked. The database and
    blob work runs off the event loop.
    """
    form = await read_multipart(request, platform.settings.max_upload_bytes)
    data = form.file("file")
    entry = datapoint(form)
    return await run_in_threadpool(
        lambda: platform.register(workspace=workspace, project=project, data=data, datapoint=entry)
    )


async def store_al_config(
    request: Request,
    platform: Platform,
    target: Callable[[], Project],
    config: Any,
    view: Callable[[AlConfigVersion], dict[str, Any]],
) -> dict[str, Any]:
    """Store ``config`` as the next version of project ``target()``; ``view`` of the new record.

    Off the event loop, in one write transaction (``view`` runs inside it); the
    version records the first six characters of the caller's API key.
    """
    key = api_key_of(request)

    def save() -> dict[str, Any]:
        project = target()
        with platform.db.write() as session:
            record = store.save_al_config(
                session=session, project=project, config=config, created_by=(key or "")[:6]
            )
            return view(record)

    return await run_in_threadpool(save)

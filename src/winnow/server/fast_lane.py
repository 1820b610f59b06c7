"""The fast lane: stub v1 requests answered in one ASGI middleware, past FastAPI's machinery.

A stub request on a cached key (``pipeline.serves_inline``) costs a JSON
parse, a base64 decode and a JPEG header read: about the same again went into
FastAPI's middleware layers, routing over every route of the app, dependency
solving and background-task plumbing. :class:`InferenceFastLane` sits in front
of all of it for ``POST /infer/{task}`` only: it reads the body (under the same
cap as the route), parses it, and when the request is served inline it runs
the very same pipeline (``run_inference``, ``response_json``,
``schedule_collection``), sends the same JSON answer, counts it in the same
metrics under the same route label, and hands the images to the collector
after the response. Anything else, including every error, goes on to the app
with the body it read replayed, so answers, errors and metrics stay those of
the route (the route parses again; only requests that are not served inline
pay for that).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import BackgroundTasks
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from winnow.http.body import body_limit, declared_length
from winnow.http.jsonbody import parse_json
from winnow.server.inference_request import parse_v1
from winnow.server.pipeline import (
    ROUTE_TASKS,
    response_json,
    run_inference,
    schedule_collection,
    serves_inline,
)
from winnow.server.services import Services

PATHS = {f"/infer/{route}": task for route, task in ROUTE_TASKS.items()}
"""The v1 route paths the fast lane serves, with the task each requires."""


class InferenceFastLane:
    """ASGI middleware answering inline-served v1 stub requests itself (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request here, or pass it on with its body replayed."""
        path = scope.get("path")
        if scope["type"] != "http" or scope.get("method") != "POST" or path not in PATHS:
            await self.app(scope, receive, send)
            return
        services: Services | None = getattr(scope["app"].state, "services", None)
        if services is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        limit = body_limit(services.settings.max_upload_bytes)
        messages, body, complete = await _read(receive, scope, limit)
        if complete:
            try:
                inline = _serve_inline(services, scope, body, PATHS[path])
            except Exception:  # every error: the route decides, and answers it
                inline = None
            if inline is not None:
                answer, background = inline
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(answer)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": answer})
                metrics = services.metrics
                metrics.requests.labels(route=path, status="200").inc()
                metrics.latency.labels(route=path).observe(time.perf_counter() - started)
                await background()  # collection, after the response (never raises)
                return
        await self.app(scope, _replay(messages, receive), send)


def _serve_inline(
    services: Services, scope: Scope, body: bytes, task: str
) -> tuple[bytes, BackgroundTasks] | None:
    """The answer's bytes and the collection to run after it; None when not served inline."""
    authorization = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    parsed = parse_v1(
        parse_json(body),
        authorization,
        metadata_max_bytes=services.settings.active_learning_metadata_max_bytes,
    )
    if not serves_inline(services, parsed):
        return None
    _, served = run_inference(services, parsed, task)
    bodies: list[Any] = [response_json(parsed, item) for item in served]
    background = BackgroundTasks()
    schedule_collection(background, services, parsed, served)
    answer = orjson.dumps(
        bodies if parsed.as_list else bodies[0], option=orjson.OPT_SERIALIZE_NUMPY
    )
    return answer, background


async def _read(receive: Receive, scope: Scope, limit: int) -> tuple[list[Message], bytes, bool]:
    """The messages received, the body, and whether it is complete and within ``limit``."""
    messages: list[Message] = []
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and declared_length(value.decode("latin-1")) > limit:
            return messages, b"", False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return messages, b"", False
        if not message.get("more_body", False):
            return messages, b"".join(chunks), True


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives back ``messages`` first, then reads on."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed

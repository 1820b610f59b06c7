"""One error handler for every winnow HTTP app: errors become ``{"message": ...}``.

``install_error_handlers(app)`` maps :class:`winnow.errors.WinnowError` to its
status and JSON body, request validation failures to 400 naming the field,
and anything else to a logged 500 with a generic message (no internals leak).
Every winnow app installs it (see ``winnow.app.create_app``). Errors of status 5xx
are logged once per minute per error type (an outage would otherwise log one
line per request); ``/metrics`` counts every answer by status.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from winnow.errors import WinnowError
from winnow.stale import FailureLog

ERROR_LOG_SECONDS = 60.0

log = logging.getLogger("winnow.http")


def validation_message(errors: list[Any]) -> str:
    """``<field>: <problem>`` for the first few validation errors, joined by ``; ``."""
    parts = []
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "request"
        parts.append(f"{field}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class _ServerErrorLog(FailureLog):
    """Logs 5xx answers at ERROR, once per interval per error type."""

    def log(self, exc: WinnowError) -> None:
        cause = type(exc).__name__
        due, suppressed = self.due(cause)
        if due:
            log.error(
                "%s: %s (%d more in the last %.0f s)", cause, exc.message, suppressed, self.interval
            )


async def _winnow_error(errors: _ServerErrorLog, _request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WinnowError)
    if exc.status >= 500:
        errors.log(exc)
    return JSONResponse(status_code=exc.status, content=exc.to_json())


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=400, content={"message": validation_message(list(exc.errors()))}
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return JSONResponse(
        status_code=exc.status_code, content={"message": str(exc.detail)}, headers=headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"message": "internal error"})


def install_error_handlers(app: FastAPI) -> None:
    """Install the handlers on ``app`` (call once, before serving)."""
    app.add_exception_handler(
        WinnowError, partial(_winnow_error, _ServerErrorLog(interval=ERROR_LOG_SECONDS))
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

"""Static files of the web UI: served locally (no CDN) with long-lived cache headers.

URLs carry a content hash (``app.css?v=1a2b3c4d``), so a changed file gets a
new URL and browsers may cache every version for a year.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_PATH = "/app/static"
CACHE_CONTROL = "public, max-age=31536000, immutable"


@cache
def _version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(name: str, base: str = STATIC_PATH) -> str:
    """The cache-busting URL of a static file."""
    return f"{base}/{name}?v={_version(name)}"


class CachedStaticFiles(StaticFiles):
    """StaticFiles adding ``Cache-Control`` (ETag and Last-Modified come from Starlette)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file response with cache headers."""
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = CACHE_CONTROL
        return response


def mount_static(app: FastAPI, path: str = STATIC_PATH) -> None:
    """Mount the UI's static files on ``app`` at ``path`` (default ``/app/static``)."""
    app.mount(path, CachedStaticFiles(directory=STATIC_DIR), name="web_static")

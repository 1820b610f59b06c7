"""Who is calling: the API key from ``api_key`` or ``Authorization: Bearer``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from winnow.http.auth import api_key_from
from winnow.platform.schema import Workspace
from winnow.platform.service import Platform


def api_key_of(request: Request) -> str | None:
    """The key of a request: a Bearer token wins over the ``api_key`` query parameter."""
    return api_key_from(request.headers.get("authorization"), request.query_params.get("api_key"))


def workspace_dependency(platform: Platform) -> Callable[[Request], Workspace]:
    """A FastAPI dependency resolving the caller's workspace (401 without a valid key)."""

    def dependency(request: Request) -> Workspace:
        return platform.workspace(api_key_of(request))

    return dependency

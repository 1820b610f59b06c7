"""The typed dependencies of every platform, export and web route, read from ``app.state``.

``winnow.app.create_app`` includes the routers before anything is started;
its lifespan then puts the open :class:`Platform` on ``app.state.platform``.
Routes never touch ``app.state`` themselves: they declare

- ``platform: PlatformDep``: the platform of this app;
- ``workspace: WorkspaceDep``: the caller's workspace, from
  ``Authorization: Bearer <key>`` or the ``api_key`` query parameter
  (401 without a valid key);
- the workspace signed in to the web UI by session cookie:
  :func:`web_user` (None when nobody is), :func:`require_web_user` (401
  when nobody is, 403 for a cross-site write). Web routes call them through
  ``ctx.require(request)`` (``winnow.web.context.WebDep``), inside the
  handler, so a bad query parameter is still a 400 before any sign-in check
  and a page without a session redirects to sign-in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from winnow.errors import ForbiddenError, NotFoundError, UnauthorizedError
from winnow.http.auth import api_key_from
from winnow.http.origin import cross_origin
from winnow.platform.schema import Workspace
from winnow.platform.service import Platform
from winnow.platform.sessions import COOKIE


def api_key_of(request: Request) -> str | None:
    """The caller's key: a Bearer token wins over the ``api_key`` query parameter."""
    return api_key_from(request.headers.get("authorization"), request.query_params.get("api_key"))


def get_platform(request: Request) -> Platform:
    """The app's platform; 404 on a node that runs none (role inference)."""
    platform: Platform | None = getattr(request.app.state, "platform", None)
    if platform is None:
        raise NotFoundError("this node runs no platform (role inference)")
    return platform


async def _platform(request: Request) -> Platform:
    # async: no I/O, so no hop to the thread pool as a sync dependency would make.
    return get_platform(request)


PlatformDep = Annotated[Platform, Depends(_platform)]


def caller_workspace(request: Request, platform: PlatformDep) -> Workspace:
    """The workspace of the caller's API key; UnauthorizedError for a missing or unknown key."""
    return platform.workspace(api_key_of(request))


WorkspaceDep = Annotated[Workspace, Depends(caller_workspace)]


def web_user(request: Request, platform: PlatformDep) -> Workspace | None:
    """The workspace signed in by the request's session cookie, or None."""
    return platform.sessions.workspace(request.cookies.get(COOKIE))


def require_web_user(request: Request, platform: Platform, *, write: bool = False) -> Workspace:
    """The signed-in workspace; UnauthorizedError when none, ForbiddenError for cross-site writes."""
    workspace = web_user(request, platform)
    if workspace is None:
        raise UnauthorizedError("sign in first: no valid session cookie")
    if write and cross_origin(request.headers, request.url.scheme):
        raise ForbiddenError("cross-site request refused: the Origin header is not this site")
    return workspace

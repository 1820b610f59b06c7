"""What every web route needs: the platform, sessions, templates, and who is signed in."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.convertors import Convertor, register_url_convertor

from winnow.errors import UnauthorizedError, WinnowError
from winnow.platform.deps import PlatformDep, get_platform, require_web_user, web_user
from winnow.platform.schema import Workspace
from winnow.platform.service import Platform
from winnow.web.assets import TEMPLATES_DIR, static_url


class BatchNameConvertor(Convertor[str]):
    """``{batch:batch}``: a batch name in a path, any text (``/``, ``?``, ``#`` too).

    Batch names come from clients and may hold characters that end a path
    segment; URLs are built percent-encoded, and since routing sees the
    decoded path, the segment matches up to the end (or to ``/review``).
    """

    regex = ".+"

    def convert(self, value: str) -> str:
        """The name as routed (already percent-decoded)."""
        return value

    def to_string(self, value: str) -> str:
        """The name percent-encoded for a URL."""
        return quote(str(value), safe="")


register_url_convertor("batch", BatchNameConvertor())


def script_json(value: Any) -> str:
    """JSON safe to embed inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


_templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
_templates.env.globals["static"] = static_url


class WebContext:
    """What a web route works with: the platform, who is signed in, and the page templates."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.templates = _templates

    def workspace(self, request: Request) -> Workspace | None:
        """The signed-in workspace of a request, or None."""
        return web_user(request, self.platform)

    def require(self, request: Request, *, write: bool = False) -> Workspace:
        """The signed-in workspace; UnauthorizedError when none, ForbiddenError for cross-site writes."""
        return require_web_user(request, self.platform, write=write)

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """Render a template with the request and the signed-in workspace."""
        context.setdefault("workspace", None)
        return self.templates.TemplateResponse(request, name, context, status_code=status)


async def web_context(platform: PlatformDep) -> WebContext:
    """The dependency giving a web route its :class:`WebContext` (async: no I/O, no thread hop)."""
    return WebContext(platform)


WebDep = Annotated[WebContext, Depends(web_context)]


class PageRoute(APIRoute):
    """Route class for HTML pages: 401 redirects to sign-in, other errors render an error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so WinnowErrors become pages instead of JSON."""
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except UnauthorizedError:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = request.url_for("login").path
                return RedirectResponse(f"{login}?next={quote(target)}", status_code=303)
            except WinnowError as exc:
                context = WebContext(get_platform(request))
                return context.render(
                    request,
                    "error.html",
                    status=exc.status,
                    status_code_text=exc.status,
                    message=exc.message,
                    workspace=context.workspace(request),
                )

        return page_handler

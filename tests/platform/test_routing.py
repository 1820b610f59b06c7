"""The reference catch-alls never shadow winnow's other routes, whatever the router order."""

from __future__ import annotations

import anyio
import httpx
from fastapi import APIRouter, FastAPI

from tests.factories import KEY
from tests.server.asgi_client import ASGIClient
from winnow.http.errors import install_error_handlers
from winnow.platform import routes as platform_routes
from winnow.platform.service import Platform


def other_routes() -> APIRouter:
    """Stand-ins for the inference server's routes that share the reference's path shapes."""
    router = APIRouter()

    @router.get("/model/registry")
    def registry() -> dict[str, str]:
        return {"route": "registry"}

    @router.get("/app/projects")
    def web() -> dict[str, str]:
        return {"route": "web"}

    @router.get("/info")
    def info() -> dict[str, str]:
        return {"route": "info"}

    @router.get("/metrics/x")
    def metrics() -> dict[str, str]:
        return {"route": "metrics"}

    @router.post("/{project}/{version}")
    def legacy(project: str, version: str) -> dict[str, str]:
        return {"route": "legacy", "project": project, "version": version}

    @router.get("/infer/a/b")
    def infer() -> dict[str, str]:
        return {"route": "infer"}

    return router


def test_platform_router_first_does_not_shadow(sqlite_platform: Platform) -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(platform_routes.router)  # platform first: the hard case
    app.state.platform = sqlite_platform
    app.include_router(other_routes())
    with ASGIClient(app) as client:
        assert client.get("/model/registry").json() == {"route": "registry"}
        assert client.get("/info").json() == {"route": "info"}
        assert client.get("/app/projects").json() == {"route": "web"}
        assert client.get("/metrics/x").json() == {"route": "metrics"}
        assert client.get("/infer/a/b").json() == {"route": "infer"}
        legacy = client.post(f"/cars/3?api_key={KEY}", content=b"aGVsbG8=")
        assert legacy.json() == {"route": "legacy", "project": "cars", "version": "3"}
        # ...while the reference GET of the same shape still reaches the platform.
        assert client.get(f"/default/cars?api_key={KEY}").status_code == 404
        assert client.get(f"/?api_key={KEY}").json() == {"workspace": "default"}
        assert client.get(f"/v1/projects?api_key={KEY}").json() == {"projects": []}


def test_unexpected_errors_are_generic_500() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    async def call() -> httpx.Response:
        # Starlette re-raises after answering (for server logs); the client sees the 500.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/boom")

    response = anyio.run(call)
    assert response.status_code == 500
    assert response.json() == {"message": "internal error"}

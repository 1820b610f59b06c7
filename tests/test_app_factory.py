"""``create_app`` includes every route of the role before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts

from winnow.app import create_app
from winnow.settings import Role, Settings


def settings_for(role: Role, tmp_path: Path) -> Settings:
    return Settings.model_construct(
        role=role, data_dir=tmp_path / "data", platform_url="http://platform:9001"
    )


def paths(role: Role, tmp_path: Path) -> list[str]:
    app = create_app(settings_for(role, tmp_path))
    # FastAPI keeps included routers nested; this walks them in matching order.
    return [str(r.path) for r in iter_route_contexts(app.routes)]


@pytest.mark.parametrize("role", list(Role))
def test_openapi_without_starting_anything(role: Role, tmp_path: Path) -> None:
    schema = create_app(settings_for(role, tmp_path)).openapi()
    assert "/info" in schema["paths"]
    assert ("/v1/projects" in schema["paths"]) == (role is not Role.INFERENCE)
    assert ("/infer/object_detection" in schema["paths"]) == (role is not Role.PLATFORM)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("role", [Role.ALL, Role.INFERENCE])
def test_legacy_catch_all_comes_last(role: Role, tmp_path: Path) -> None:
    assert paths(role, tmp_path)[-1] == "/{project}/{version:int}"


def test_role_all_orders_inference_web_export_platform(tmp_path: Path) -> None:
    found = paths(Role.ALL, tmp_path)
    order = [
        found.index(p)
        for p in (
            "/info",
            "/infer/object_detection",
            "/app/login",
            "/app/static",
            "/v1/projects/{project}/export",
            "/v1/projects",
            "/{ws}/{project}",
        )
    ]
    assert order == sorted(order)

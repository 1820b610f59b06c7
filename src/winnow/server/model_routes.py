"""Model registry routes: ``GET /model/registry``, ``POST /model/add|remove|clear``.

Each answers the registry of the caller's workspace in the shape the
inference-sdk client reads: ``{"models": [{"model_id", "task_type",
"batch_size", "input_height", "input_width"}]}``. The key comes from
``Authorization: Bearer``, the JSON body or the ``api_key`` query parameter.

``/model/remove`` and ``/model/clear`` also work without a key, as on the
reference server: the inference-sdk client sends none for them in its
default key transport. Without a key they unload from every workspace's
cache (models reload on next use; no workspace data is read or written) and
answer an empty list, since the caller's workspace is unknown.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from winnow.errors import BadRequestError, UnauthorizedError
from winnow.http.body import read_body
from winnow.http.jsonbody import parse_json
from winnow.models.base import Model
from winnow.models.registry import ModelRegistry
from winnow.server.inference_request import check_model_id, resolve_api_key
from winnow.server.services import RegistryDep

router = APIRouter(prefix="/model", tags=["models"])
_MAX_BODY = 64 * 1024


def describe(model: Model) -> dict[str, Any]:
    """The registry entry of one model."""
    return {
        "model_id": model.model_id,
        "task_type": model.task_type,
        "batch_size": model.batch_size,
        "input_height": model.input_height,
        "input_width": model.input_width,
    }


def _registry_body(registry: ModelRegistry, api_key: str) -> dict[str, Any]:
    return {"models": [describe(m) for m in registry.loaded(api_key)]}


async def _json_fields(request: Request) -> dict[str, Any]:
    body = await read_body(request, _MAX_BODY)
    if not body.strip():
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequestError('request body must be a JSON object, e.g. {"model_id": "p/1"}')
    return data


def _key(request: Request, fields: dict[str, Any]) -> str:
    return resolve_api_key(
        fields.get("api_key") or request.query_params.get("api_key"),
        request.headers.get("authorization"),
    )


def _optional_key(request: Request, fields: dict[str, Any]) -> str | None:
    try:
        return _key(request, fields)
    except UnauthorizedError:
        return None


@router.get("/registry")
async def model_registry(request: Request, registry: RegistryDep) -> dict[str, Any]:
    """The models loaded for the caller's workspace."""
    api_key = _key(request, {})
    return await run_in_threadpool(_registry_body, registry, api_key)


@router.post("/add")
async def model_add(request: Request, registry: RegistryDep) -> dict[str, Any]:
    """Load ``model_id`` now (downloading it if needed); 404 naming an unknown model."""
    fields = await _json_fields(request)
    api_key = _key(request, fields)
    model_id = check_model_id(fields.get("model_id"))

    def add() -> dict[str, Any]:
        registry.add(api_key, model_id)
        return _registry_body(registry, api_key)

    return await run_in_threadpool(add)


@router.post("/remove")
async def model_remove(request: Request, registry: RegistryDep) -> dict[str, Any]:
    """Unload ``model_id``; unloading a model that is not loaded is no error. Key optional."""
    fields = await _json_fields(request)
    api_key = _optional_key(request, fields)
    model_id = check_model_id(fields.get("model_id"))

    def remove() -> dict[str, Any]:
        if api_key is None:
            registry.remove_everywhere(model_id)
            return {"models": []}
        registry.remove(api_key, model_id)
        return _registry_body(registry, api_key)

    return await run_in_threadpool(remove)


@router.post("/clear")
async def model_clear(request: Request, registry: RegistryDep) -> dict[str, Any]:
    """Unload every model of the caller's workspace (of every workspace without a key)."""
    fields = await _json_fields(request)
    api_key = _optional_key(request, fields)

    def clear() -> dict[str, Any]:
        if api_key is None:
            registry.clear_all()
            return {"models": []}
        registry.clear(api_key)
        return _registry_body(registry, api_key)

    return await run_in_threadpool(clear)

"""JSON request bodies: size-capped reading, parsing with errors that name the problem.

Nesting depth is capped by the parser itself: a body nested past Python's
recursion limit is a 400 ("nested too deeply"), never a crash. Two wordings
exist because two wire contracts do: the inference routes answer
``request body ...`` (as the reference server does), the platform and web
routes ``body: ...`` (field-path style).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from winnow.errors import BadRequestError
from winnow.http.body import read_body

MAX_JSON_BYTES = 1024 * 1024


def parse_json(body: bytes) -> Any:
    """Parse an inference request body; 400 naming the problem when it is empty or not JSON.

    Parsed by orjson (a 110 KB base64 body in about half the standard library's CPU time).
    What orjson refuses but the standard library reads (``NaN``/``Infinity`` literals,
    numbers beyond a double, such as ``1e309``) is read by the standard library instead,
    so the field's own check names the field ("confidence: must be a finite number");
    invalid UTF-8 is refused, and nesting deeper than 1024 levels is "nested too deeply".
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:  # only on this error path: the numbers orjson will not read as a double
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
        if not body.strip():
            raise BadRequestError("request body is empty; send a JSON object") from None
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise BadRequestError("request body is JSON nested too deeply") from None
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None


def parse_json_field(name: str, value: str | bytes) -> Any:
    """Parse the JSON text of field ``name``; 400 ``<name>: ...`` when it is not JSON."""
    try:
        return json.loads(value)
    except ValueError as exc:
        raise BadRequestError(f"{name}: not valid JSON ({exc})") from None
    except RecursionError:
        raise BadRequestError(f"{name}: JSON nested too deeply") from None


async def json_body(request: Request, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The request body parsed as JSON; 400 naming the problem, 413 when too large."""
    raw = await read_body(request, max_bytes)
    if not raw:
        raise BadRequestError("body: a JSON body is required")
    return parse_json_field("body", raw)

"""Reading request bodies with a size cap (413 beyond it), before any parsing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from winnow.errors import BadRequestError, PayloadTooLargeError


def body_limit(max_upload_bytes: int) -> int:
    """Largest body accepted: base64 of the biggest upload plus room for JSON fields."""
    return max_upload_bytes * 4 // 3 + 64 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or ``PayloadTooLargeError`` as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is {declared} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Parse a JSON body; 400 naming the problem when it is empty or not JSON."""
    if not body.strip():
        raise BadRequestError("request body is empty; send a JSON object")
    try:
        return json.loads(body)
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError, and an integer of over 4300 digits.
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("request body is JSON nested too deeply") from None

"""Reading request bodies with a size cap (413 beyond it), before any parsing."""

from __future__ import annotations

import json
from typing import Any

from winnow.errors import BadRequestError
from winnow.platform.routes.forms import read_body

__all__ = ["body_limit", "parse_json", "read_body"]


def body_limit(max_upload_bytes: int) -> int:
    """Largest body accepted: base64 of the biggest upload plus room for JSON fields."""
    return max_upload_bytes * 4 // 3 + 64 * 1024


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

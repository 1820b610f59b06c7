"""Reading multipart uploads and JSON fields with size limits and field-naming errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from winnow.errors import BadRequestError, PayloadTooLargeError

FORM_OVERHEAD = 1024 * 1024  # room for the other fields and multipart framing


@dataclass(slots=True)
class Multipart:
    """A fully read multipart form: file parts as bytes, text fields as strings."""

    files: dict[str, bytes] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def file(self, name: str) -> bytes:
        """The bytes of file part ``name``; 400 when missing or empty."""
        data = self.files.get(name)
        if data is None:
            if name in self.fields:
                return self.fields[name].encode("utf-8")
            raise BadRequestError(f"{name}: the multipart file part {name!r} is missing")
        if not data:
            raise BadRequestError(f"{name}: the uploaded file is empty")
        return data

    def text(self, name: str) -> str | None:
        """A text field, or None when absent."""
        if name in self.files:
            return self.files[name].decode("utf-8", errors="replace")
        return self.fields.get(name)

    def json(self, name: str) -> Any:
        """A field holding JSON text, parsed; None when absent or empty."""
        value = self.text(name)
        if value is None or not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BadRequestError(f"{name}: not valid JSON ({exc})") from None
        except RecursionError:
            raise BadRequestError(f"{name}: JSON nested too deeply") from None

    def json_object(self, name: str) -> dict[str, Any] | None:
        """A field holding a JSON object; 400 naming the field for anything else."""
        value = self.json(name)
        if value is not None and not isinstance(value, dict):
            raise BadRequestError(f"{name}: must be a JSON object")
        return value


def _declared_length(header: str | None) -> int:
    """The Content-Length header as a number; 0 when absent or not a plain decimal."""
    if header is None or not header.isascii() or not header.isdigit() or len(header) > 18:
        return 0
    return int(header)


async def read_multipart(request: Request, max_bytes: int) -> Multipart:
    """Read the whole form; 413 when Content-Length or any file part is over ``max_bytes``."""
    length = request.headers.get("content-length")
    if _declared_length(length) > max_bytes + FORM_OVERHEAD:
        raise PayloadTooLargeError(f"upload is {length} bytes, over the limit of {max_bytes} bytes")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadRequestError(
            "expected multipart/form-data with a 'file' part, got "
            f"{content_type or 'no content type'!r}"
        )
    out = Multipart()
    async with request.form(max_files=4, max_fields=32) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise PayloadTooLargeError(
                        f"{name}: upload is over the limit of {max_bytes} bytes"
                    )
                out.files[name] = data
            else:
                out.fields[name] = value
    return out


MAX_JSON_BYTES = 1024 * 1024


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it grows past ``max_bytes``."""
    length = request.headers.get("content-length")
    if _declared_length(length) > max_bytes:
        raise PayloadTooLargeError(f"body is {length} bytes, over the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The request body parsed as JSON; 400 naming the problem, 413 when too large."""
    raw = await read_body(request, max_bytes)
    if not raw:
        raise BadRequestError("body: a JSON body is required")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequestError(f"body: not valid JSON ({exc})") from None
    except RecursionError:
        raise BadRequestError("body: JSON nested too deeply") from None

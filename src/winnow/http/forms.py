"""Reading multipart uploads and JSON fields with size limits and field-naming errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from winnow.errors import BadRequestError, PayloadTooLargeError
from winnow.http.body import declared_length
from winnow.http.jsonbody import parse_json_field

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
        return parse_json_field(name, value)

    def json_object(self, name: str) -> dict[str, Any] | None:
        """A field holding a JSON object; 400 naming the field for anything else."""
        value = self.json(name)
        if value is not None and not isinstance(value, dict):
            raise BadRequestError(f"{name}: must be a JSON object")
        return value


async def read_multipart(
    request: Request,
    max_bytes: int,
    *,
    max_files: int = 4,
    max_fields: int = 32,
    max_total: int | None = None,
) -> Multipart:
    """Read the whole form; 413 when Content-Length or any file part is over ``max_bytes``.

    ``max_total`` (default ``max_bytes``) bounds the declared length of the
    whole body, for forms of several files (a batch of datapoints).
    """
    length = request.headers.get("content-length")
    total = max_bytes if max_total is None else max_total
    if declared_length(length) > total + FORM_OVERHEAD:
        raise PayloadTooLargeError(f"upload is {length} bytes, over the limit of {max_bytes} bytes")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadRequestError(
            "expected multipart/form-data with a 'file' part, got "
            f"{content_type or 'no content type'!r}"
        )
    out = Multipart()
    received = 0
    async with request.form(max_files=max_files, max_fields=max_fields) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise PayloadTooLargeError(
                        f"{name}: upload is over the limit of {max_bytes} bytes"
                    )
                received += len(data)
                if received > total:
                    raise PayloadTooLargeError(f"upload is over the limit of {total} bytes")
                out.files[name] = data
            else:
                out.fields[name] = value
    return out

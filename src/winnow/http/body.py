"""Reading a raw request body under a byte cap: 413 as soon as it grows past it."""

from __future__ import annotations

from fastapi import Request

from winnow.errors import PayloadTooLargeError


def declared_length(header: str | None) -> int:
    """The Content-Length header as a number; 0 when absent or not a plain decimal."""
    if header is None or not header.isascii() or not header.isdigit() or len(header) > 18:
        return 0
    return int(header)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it grows past ``max_bytes``."""
    length = request.headers.get("content-length")
    if declared_length(length) > max_bytes:
        raise PayloadTooLargeError(f"body is {length} bytes, over the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def body_limit(max_upload_bytes: int) -> int:
    """Largest JSON/base64 body accepted: base64 of the biggest upload plus room for fields."""
    return max_upload_bytes * 4 // 3 + 64 * 1024

"""Shared HTTP plumbing of the platform clients: timeouts, one retry, error mapping, quoting."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from winnow.errors import (
    DeliveryError,
    NotFoundError,
    ServiceUnavailableError,
    UnauthorizedError,
    WinnowError,
)


class HTTPClientBase:
    """Holds one ``httpx.Client`` on a remote platform's base URL; ``close()`` releases it.

    ``timeout`` (seconds, or an ``httpx.Timeout`` with separate connect and
    read limits) defaults to the class's ``TIMEOUT``; ``transport`` lets tests
    put an in-process ASGI app behind the client.
    """

    TIMEOUT = 10.0

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=self.TIMEOUT if timeout is None else timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def message_of(response: httpx.Response) -> str:
    """The ``message`` (or ``detail``) of an error answer, else its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)
    return str(body)[:200]


def segment(value: str) -> str:
    """``value`` quoted as one path segment."""
    return quote(value, safe="")


def query(params: list[tuple[str, str]]) -> str:
    """A query string, every value ``quote_plus``-encoded (as the reference client does)."""
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params)


def delivery_error(response: httpx.Response, what: str) -> DeliveryError:
    """A DeliveryError for an error answer: 5xx and 429 retryable, other 4xx not."""
    retryable = response.status_code >= 500 or response.status_code == 429
    return DeliveryError(
        f"{what} failed with {response.status_code}: {message_of(response)}",
        retryable=retryable,
        batch_full=response.status_code == 409 and _reason(response) == "batch_full",
    )


def _reason(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("reason") if isinstance(body, dict) else None


def lookup_error(response: httpx.Response, what: str) -> WinnowError:
    """The error for a failed lookup (config, project, model)."""
    message = f"{what}: {message_of(response)}"
    if response.status_code == 401 or response.status_code == 403:
        return UnauthorizedError(message)
    if response.status_code == 404:
        return NotFoundError(message)
    return ServiceUnavailableError(
        f"{what} failed with {response.status_code}: {message_of(response)}"
    )


# A keep-alive connection the platform closed (restart, idle timeout) fails on
# first use with one of these; the request never reached the platform's
# handler, so asking once more on a fresh connection is safe.
_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def get(client: httpx.Client, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """GET ``url``, retried once on a reset or closed connection; network errors -> 503.

    The 503 says the platform is unreachable and names ``what`` was asked.
    """
    try:
        try:
            return client.get(url, **kwargs)
        except _STALE_CONNECTION:
            return client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise ServiceUnavailableError(f"{what}: platform unreachable ({reason})") from None


def get_json(client: httpx.Client, url: str, what: str, **kwargs: Any) -> Any:
    """GET ``url`` (see :func:`get`) and parse JSON; lookup errors mapped, network errors -> 503."""
    response = get(client, url, what, **kwargs)
    if response.status_code >= 400:
        raise lookup_error(response, what)
    try:
        return response.json()
    except ValueError:
        raise ServiceUnavailableError(f"{what}: platform answered non-JSON") from None

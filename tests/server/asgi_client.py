"""A synchronous client for an ASGI app: httpx over ASGITransport on a portal's event loop.

Runs the app's lifespan on enter and exit (like starlette's TestClient, whose
httpx flavour is deprecated). Requests complete only after the app returned,
so background tasks (collection) have run when a call returns.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, ExitStack
from types import TracebackType
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI


class ASGIClient:
    """``with ASGIClient(app) as client: client.post(...)``."""

    def __init__(self, app: FastAPI, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._client: httpx.AsyncClient | None = None
        self._lifespan: AbstractAsyncContextManager[Any] | None = None

    def __enter__(self) -> ASGIClient:
        self._portal = self._stack.enter_context(start_blocking_portal())
        self._lifespan = self.app.router.lifespan_context(self.app)
        self._portal.call(self._lifespan.__aenter__)
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url, timeout=30
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._portal is not None
        assert self._lifespan is not None
        try:
            if self._client is not None:
                self._portal.call(self._client.aclose)
            self._portal.call(self._lifespan.__aexit__, None, None, None)
        finally:
            self._stack.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; returns when the app (and its background tasks) finished."""
        assert self._portal is not None and self._client is not None
        client = self._client

        async def call() -> httpx.Response:
            return await client.request(method, url, **kwargs)

        return self._portal.call(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET ``url``."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST ``url``."""
        return self.request("POST", url, **kwargs)

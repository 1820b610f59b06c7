"""Where an inference node ships its prediction-log segments (``winnow.predlog.shipping``).

- :class:`InProcessSegmentSink`: role ``all``, straight into this process's platform;
- :class:`NativeHTTPSegmentSink`: role ``inference``, ``PUT /v1/prediction-segments/{name}``
  with a key of the records' workspace (201 stored, 200 already stored).

Both raise ``DeliveryError``: retryable for network errors, 5xx and 429, not
for a refusal (another 4xx), so the shipper keeps retrying what may pass and
sets aside what never will.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from winnow.errors import DeliveryError, WinnowError
from winnow.platform.clients.http import HTTPClientBase, delivery_error, segment

if TYPE_CHECKING:
    from winnow.platform.service import Platform


class InProcessSegmentSink:
    """Stores segments in the platform of this process (the workspace is trusted as named)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def put_segment(self, name: str, data: bytes, *, workspace: str, api_key: str) -> bool:
        """Store the segment; a refusal is a non-retryable ``DeliveryError``."""
        try:
            return self.platform.predictions.store_segment(
                workspace=workspace, name=name, data=data
            )
        except WinnowError as exc:
            if exc.status >= 500:
                raise
            raise DeliveryError(exc.message, retryable=False) from None


class NativeHTTPSegmentSink(HTTPClientBase):
    """Ships segments over winnow's native route (see the module docstring)."""

    TIMEOUT = 60.0

    def put_segment(self, name: str, data: bytes, *, workspace: str, api_key: str) -> bool:
        """PUT the segment; True when the platform stored it now, False when it had it."""
        try:
            response = self.client.put(
                f"/v1/prediction-segments/{segment(name)}",
                content=data,
                headers={
                    "Authorization": f"Bearer {api_key}",
                    "Content-Type": "application/vnd.apache.parquet",
                },
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"shipping segment {name}: platform unreachable ({exc or type(exc).__name__})",
                retryable=True,
            ) from None
        if response.status_code >= 400:
            raise delivery_error(response, f"shipping segment {name}")
        return response.status_code == 201

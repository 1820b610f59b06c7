"""Shadow count sinks: where an inference node reports its shadow runs and disagreements.

``InProcessShadowCountSink`` writes the store of a Platform of the same
process; ``NativeHTTPShadowCountSink`` sends ``PUT /v1/projects/{p}/shadow-counts``.
A reference platform has no such route: :func:`winnow.platform.clients.build_shadow_sink`
returns None there and the counts stay in the node's metrics.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import httpx

from winnow.activelearning.platform_client import ShadowCount
from winnow.errors import ServiceUnavailableError
from winnow.platform.clients.http import HTTPClientBase, lookup_error, segment

if TYPE_CHECKING:
    from winnow.platform.service import Platform


def _body(counts: list[ShadowCount]) -> dict[str, object]:
    return {"counts": [dataclasses.asdict(c) for c in counts]}


class InProcessShadowCountSink:
    """Stores shadow counts in a Platform of the same process."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def report(self, api_key: str, project: str, counts: list[ShadowCount]) -> None:
        """Record the counts (each row keeps the larger figures)."""
        from winnow.platform.store.shadow import check_shadow_counts, record_shadow_counts

        checked = check_shadow_counts(_body(counts))
        workspace = self.platform.workspace(api_key)
        target = self.platform.project(workspace, project)
        with self.platform.db.write() as session:
            record_shadow_counts(session=session, project=target, counts=checked)

    def close(self) -> None:
        """Nothing to release."""


class NativeHTTPShadowCountSink(HTTPClientBase):
    """Sends ``PUT /v1/projects/{project}/shadow-counts``."""

    TIMEOUT = 10.0

    def report(self, api_key: str, project: str, counts: list[ShadowCount]) -> None:
        """Send the counts; the platform's error (or a 503 when unreachable) is raised."""
        what = f"shadow counts of {project!r}"
        try:
            response = self.client.put(
                f"/v1/projects/{segment(project)}/shadow-counts",
                json=_body(counts),
                headers={"Authorization": f"Bearer {api_key}"},
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(f"{what}: platform unreachable ({exc})") from None
        if response.status_code >= 400:
            raise lookup_error(response, what)

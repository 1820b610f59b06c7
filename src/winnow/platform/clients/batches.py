"""Batch counters: how many images a labeling batch already holds on the platform.

An inference node asks the first time it fills a capped batch (and again
every ``config_cache_seconds``), so ``max_batch_images`` stays exact after a
restart and across nodes with memory limits. ``InProcessBatchCounter`` reads
the store, ``NativeHTTPBatchCounter`` ``GET /v1/projects/{p}/batches``, and
``ReferenceHTTPBatchCounter`` counts the way the reference server does
(``inference.core.active_learning.accounting``): the batch's ``images`` from
``/{ws}/{project}/batches`` plus, when ``numJobs > 0``, the images of its
labeling jobs from ``/{ws}/{project}/jobs``. A batch not listed holds 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from winnow.errors import NotFoundError
from winnow.platform.clients.http import HTTPClientBase, get_json, query, segment

if TYPE_CHECKING:
    from winnow.platform.service import Platform

BATCHES_TIMEOUT = 10.0


class InProcessBatchCounter:
    """Reads a batch's image count from a Platform of the same process."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def batch_images(self, api_key: str, project: str, batch_name: str) -> int:
        """Images the batch holds (0 for a batch not created yet)."""
        from winnow.platform import store
        from winnow.platform.store.listing import get_batch

        workspace = self.platform.workspace(api_key)
        with self.platform.db.read() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            try:
                return int(get_batch(session=session, project=target, name=batch_name).image_count)
            except NotFoundError:
                return 0

    def close(self) -> None:
        """Nothing to release."""


class NativeHTTPBatchCounter(HTTPClientBase):
    """Reads ``GET /v1/projects/{project}/batches``."""

    TIMEOUT = BATCHES_TIMEOUT

    def batch_images(self, api_key: str, project: str, batch_name: str) -> int:
        """Images the batch holds (0 for a batch not listed)."""
        body: Any = get_json(
            self.client,
            f"/v1/projects/{segment(project)}/batches",
            f"batches of {project!r}",
            headers={"Authorization": f"Bearer {api_key}"},
        )
        for batch in body.get("batches", []):
            if batch.get("name") == batch_name:
                return int(batch.get("images") or 0)
        return 0


class ReferenceHTTPBatchCounter(HTTPClientBase):
    """Counts a batch's images the way the reference server's batch cap does."""

    TIMEOUT = BATCHES_TIMEOUT

    def batch_images(self, api_key: str, project: str, batch_name: str) -> int:
        """``images`` of the batch plus those under labeling in its jobs (0 if not listed)."""
        key = query([("api_key", api_key)])
        workspace = str(get_json(self.client, f"/?{key}", "workspace of the API key")["workspace"])
        base = f"/{segment(workspace)}/{segment(project)}"
        body: Any = get_json(self.client, f"{base}/batches?{key}", f"batches of {project!r}")
        batch = next((b for b in body.get("batches", []) if b.get("name") == batch_name), None)
        if batch is None:
            return 0
        images = int(batch.get("images") or 0)
        if int(batch.get("numJobs") or 0) > 0:
            jobs: Any = get_json(self.client, f"{base}/jobs?{key}", f"jobs of {project!r}")
            source = f"{workspace}/{batch.get('id')}"
            images += sum(
                int(job.get("numImages") or 0)
                for job in jobs.get("jobs", [])
                if job.get("sourceBatch") == source
            )
        return images

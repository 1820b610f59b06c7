"""Model sources: how an inference node resolves projects and model files.

Both implement ``winnow.models.source.ModelSource``: in-process against a
Platform, and HTTP against a remote platform's ``/v1`` routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from winnow.models.source import ModelInfo
from winnow.platform.clients.http import (
    HTTPClientBase,
    get,
    get_json,
    lookup_error,
    query,
    segment,
)

if TYPE_CHECKING:
    from winnow.platform.service import Platform

MODEL_TIMEOUT = 120.0  # read timeout of a model file download (files can be large)


def _info(body: dict[str, Any]) -> ModelInfo:
    return ModelInfo(
        workspace=str(body["workspace"]),
        project=str(body["project"]),
        version=int(body["version"]),
        task_type=str(body["task_type"]),
        class_names=tuple(str(c) for c in body["class_names"]),
        sha256=str(body["sha256"]),
        size_bytes=int(body["size_bytes"]),
        metadata=dict(body.get("metadata") or {}),
    )


class InProcessModelSource:
    """Projects and model files straight from a Platform of the same process."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def workspace_of(self, api_key: str) -> str:
        """The workspace of the key (UnauthorizedError when unknown)."""
        return self.platform.workspace(api_key).name

    def project_type(self, api_key: str, project: str) -> str:
        """The project's type (NotFoundError when not in the key's workspace)."""
        return self.platform.project(self.platform.workspace(api_key), project).type

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        """The registered version."""
        from winnow.platform.views import model_json

        workspace = self.platform.workspace(api_key)
        target, record = self.platform.model_version(workspace, project, version)
        return _info(model_json(target, record, workspace))

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        """The ONNX bytes."""
        return self.platform.model_file(self.platform.workspace(api_key), project, version)

    def close(self) -> None:
        """Nothing to release (the Platform is closed by its owner)."""


class HTTPModelSource(HTTPClientBase):
    """Projects and model files from a remote platform over HTTP.

    Lookups use the client's timeout (short: a request waits on them); a
    model file download keeps the connect timeout but may read for
    ``MODEL_TIMEOUT`` seconds.
    """

    def _auth(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def workspace_of(self, api_key: str) -> str:
        """``GET /?api_key=``."""
        body = get_json(
            self.client, f"/?{query([('api_key', api_key)])}", "workspace of the API key"
        )
        return str(body["workspace"])

    def project_type(self, api_key: str, project: str) -> str:
        """``GET /v1/projects/{project}``."""
        body = get_json(
            self.client,
            f"/v1/projects/{segment(project)}",
            f"project {project!r}",
            headers=self._auth(api_key),
        )
        return str(body["type"])

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        """``GET /v1/models/{project}/{version}``."""
        body = get_json(
            self.client,
            f"/v1/models/{segment(project)}/{version}",
            f"model {project}/{version}",
            headers=self._auth(api_key),
        )
        return _info(body)

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        """``GET /v1/models/{project}/{version}/file``."""
        timeout = self.client.timeout
        response = get(
            self.client,
            f"/v1/models/{segment(project)}/{version}/file",
            "model file",
            headers=self._auth(api_key),
            timeout=httpx.Timeout(MODEL_TIMEOUT, connect=timeout.connect),
        )
        if response.status_code >= 400:
            raise lookup_error(response, f"model {project}/{version}")
        return response.content

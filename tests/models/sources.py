"""An in-memory ModelSource for registry tests: keys -> workspaces, projects, ONNX bytes."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from tests.models.graphs import constant_model, raw_head
from winnow.errors import NotFoundError, UnauthorizedError
from winnow.models.source import ModelInfo


class MemorySource:
    """An in-memory ModelSource: keys -> workspaces, projects, versions with ONNX bytes."""

    def __init__(self) -> None:
        self.keys = {"key-a": "ws-a", "key-b": "ws-b"}
        self.projects: dict[tuple[str, str], str] = {}
        self.files: dict[tuple[str, str, int], tuple[bytes, tuple[str, ...]]] = {}
        self.downloads = 0
        self.key_lookups = 0
        self.tasks: dict[tuple[str, str], str] = {}
        self.delay = 0.0
        self.corrupt = False

    def add_classifier(self, ws: str, project: str, kind: str, names: tuple[str, ...]) -> None:
        self.projects[(ws, project)] = kind
        scores = np.array([[0.9, 0.6, 0.1]], np.float32)
        self.files[(ws, project, 1)] = (constant_model([scores], metadata={}), names)
        self.tasks[(ws, project)] = "classification"

    def add(self, ws: str, project: str, version: int, names: tuple[str, ...]) -> None:
        self.projects[(ws, project)] = "object-detection"
        rows = [[320, 320, 64, 64] + [0.9 if i == 0 else 0.0 for i in range(len(names))]]
        self.files[(ws, project, version)] = (
            constant_model([raw_head(rows, 16)], metadata={"task": "detect"}),
            names,
        )

    def workspace_of(self, api_key: str) -> str:
        self.key_lookups += 1
        return self._ws(api_key)

    def _ws(self, api_key: str) -> str:
        if api_key not in self.keys:
            raise UnauthorizedError("unknown api key")
        return self.keys[api_key]

    def project_type(self, api_key: str, project: str) -> str:
        ws = self._ws(api_key)
        if (ws, project) not in self.projects:
            raise NotFoundError(f"project {project!r} not found")
        return self.projects[(ws, project)]

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        ws = self._ws(api_key)
        self.project_type(api_key, project)
        if (ws, project, version) not in self.files:
            raise NotFoundError(f"model {project}/{version} not found")
        data, names = self.files[(ws, project, version)]
        return ModelInfo(
            workspace=ws,
            project=project,
            version=version,
            task_type=self.tasks.get((ws, project), "object-detection"),
            class_names=names,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
        )

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        self.downloads += 1
        time.sleep(self.delay)
        data = self.files[(self._ws(api_key), project, version)][0]
        return data[:-1] + b"x" if self.corrupt else data

"""The model registry of an inference node: stubs, cached ONNX files, an LRU of loaded models.

Models are keyed by ``(workspace, model_id)``: the workspace comes from the
caller's API key, so two workspaces with a project of the same name never
share a model, and a key only ever sees its own workspace's models.

``<project>/0`` is the :class:`~winnow.models.stub.StubModel` of the project
(its type read from the source). ``<project>/<n>`` (n >= 1) is an ONNX file:
downloaded once through :meth:`ModelSource.model_file` into
``<cache_dir>/<workspace>/<sha256>.onnx`` (checked against the registered
sha256, written atomically), loaded lazily on first use and kept in an LRU
of at most ``max_loaded`` loaded models. Stubs cost nothing and are kept in a
separate bounded table so they never evict a real model.

The workspace of a key is remembered for ``key_cache_seconds`` so a remote
node does not ask the platform on every request, and a stub re-reads its
project's type after ``STUB_TTL_SECONDS`` (a deleted project stops
answering). Both lookups are :class:`~winnow.stale.StaleCache` entries:
while the platform cannot be reached, the last answer it gave is served for
up to ``key_stale_seconds`` (``None``, the default: through an outage of any
length), and a revoked key or deleted project stops working on the first
lookup the platform answers. A model's registration is kept the same way, so
a model evicted from the LRU reloads from the file cache during an outage.

Thread-safe: concurrent ``get`` calls for the same model load it once; loads
of different models run in parallel.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from winnow.errors import BadRequestError, NotFoundError, ServiceUnavailableError
from winnow.models.base import Model
from winnow.models.source import ModelInfo, ModelSource
from winnow.models.stub import StubModel
from winnow.stale import FailureLog, PlatformHealth, StaleCache

MODEL_ID_PATTERN = re.compile(r"^(?P<project>[A-Za-z0-9][A-Za-z0-9_.\-]*)/(?P<version>\d{1,9})$")
_SAFE_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
MAX_STUBS = 1024
STUB_TTL_SECONDS = 60.0
MAX_KEYS = 4096

_Key = tuple[str, str]


def parse_model_id(model_id: object) -> tuple[str, int]:
    """Split ``"<project>/<version>"``; ``BadRequestError`` naming the id when it is not one."""
    if not isinstance(model_id, str):
        raise BadRequestError(f"model_id must be a string like 'project/1', got {model_id!r}")
    match = MODEL_ID_PATTERN.match(model_id)
    if match is None:
        raise BadRequestError(
            f"invalid model_id {model_id!r}: expected '<project>/<version>' with a "
            "version number >= 0, e.g. 'my-project/1'"
        )
    return match["project"], int(match["version"])


class ModelRegistry:
    """Resolves ``(api_key, model_id)`` to a loaded :class:`Model` (see module docstring)."""

    def __init__(
        self,
        source: ModelSource,
        *,
        cache_dir: Path,
        max_loaded: int,
        key_cache_seconds: float = 5.0,
        key_stale_seconds: float | None = None,
        health: PlatformHealth | None = None,
        failures: FailureLog | None = None,
        retry_seconds: float = 1.0,
        refresh_wait: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be >= 1")
        self._source = source
        self._clock = clock
        health = health or PlatformHealth(clock)
        failures = failures or FailureLog(clock=clock)

        def cache(name: str, ttl: float, max_entries: int) -> StaleCache[Any, Any]:
            # The three caches share the platform's health, failure log and retry policy.
            return StaleCache(
                name,
                ttl=ttl,
                stale_seconds=key_stale_seconds,
                health=health,
                failures=failures,
                retry_seconds=retry_seconds,
                refresh_wait=refresh_wait,
                max_entries=max_entries,
                clock=clock,
            )

        self._workspaces: StaleCache[str, str] = cache("api_key", key_cache_seconds, MAX_KEYS)
        # Asked on every load (ttl 0); kept so an evicted model reloads from the file
        # cache while the platform is unreachable.
        self._infos: StaleCache[tuple[str, str, int], ModelInfo] = cache(
            "model_info", 0.0, MAX_STUBS
        )
        self._types: StaleCache[tuple[str, str], str] = cache(
            "project_type", STUB_TTL_SECONDS, MAX_STUBS
        )
        self._cache_dir = Path(cache_dir)
        self._max_loaded = max_loaded
        self._lock = threading.Lock()
        self._models: OrderedDict[_Key, Model] = OrderedDict()
        self._stubs: OrderedDict[_Key, tuple[StubModel, str]] = OrderedDict()
        self._loading: dict[_Key, threading.Lock] = {}

    # ------------------------------------------------------------------ public

    def get(self, api_key: str, model_id: str) -> Model:
        """The model for this key, loading (and downloading) it on first use.

        Raises ``BadRequestError`` for a malformed id, ``UnauthorizedError`` for
        an unknown key, ``NotFoundError`` naming an unknown project or version.
        """
        project, version = parse_model_id(model_id)
        workspace = self._workspace(api_key)
        key = (workspace, f"{project}/{version}")
        if version == 0:
            return self._get_stub(api_key, key, project)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                model = self._models.get(key)
                if model is not None:
                    self._models.move_to_end(key)
                    return model
            try:
                model = self._load(api_key, workspace, project, version)
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:
                # Publish and release in one step so no caller can start a second load.
                self._loading.pop(key, None)
                self._models[key] = model
                self._models.move_to_end(key)
                while len(self._models) > self._max_loaded:
                    self._models.popitem(last=False)
            return model

    def ready(self, api_key: str, model_id: str) -> Model | None:
        """The model when it can be had at once (without asking the platform, loading or
        waiting for a lock held by a load), else None: then :meth:`get` decides.

        What a call of :meth:`get` would answer now: the key's workspace and, for a stub,
        its project's type are fresh in their caches; an ONNX model is loaded.
        """
        try:
            project, version = parse_model_id(model_id)
        except BadRequestError:
            return None
        workspace = self._workspaces.fresh(api_key)
        if workspace is None:
            return None
        key = (workspace, f"{project}/{version}")
        if version == 0:
            project_type = self._types.fresh((workspace, project))
            if project_type is None:
                return None
            with self._lock:
                entry = self._stubs.get(key)
                return entry[0] if entry is not None and entry[1] == project_type else None
        with self._lock:
            return self._models.get(key)

    def add(self, api_key: str, model_id: str) -> Model:
        """Load the model now (``POST /model/add``); same errors as :meth:`get`."""
        return self.get(api_key, model_id)

    def loaded(self, api_key: str) -> list[Model]:
        """The models loaded for the key's workspace (``GET /model/registry``), stubs first."""
        workspace = self._workspace(api_key)
        with self._lock:
            stubs: list[Model] = [m for (ws, _), (m, _t) in self._stubs.items() if ws == workspace]
            models = [m for (ws, _), m in self._models.items() if ws == workspace]
        return stubs + models

    def remove(self, api_key: str, model_id: str) -> None:
        """Unload one model of the key's workspace; a model that is not loaded is no error."""
        project, version = parse_model_id(model_id)
        workspace = self._workspace(api_key)
        key = (workspace, f"{project}/{version}")
        with self._lock:
            self._models.pop(key, None)
            self._stubs.pop(key, None)

    def clear(self, api_key: str) -> None:
        """Unload every model of the key's workspace (other workspaces keep theirs)."""
        workspace = self._workspace(api_key)
        with self._lock:
            for table in (self._models, self._stubs):
                for key in [k for k in table if k[0] == workspace]:
                    del table[key]

    def remove_everywhere(self, model_id: str) -> None:
        """Unload ``model_id`` from every workspace's cache (a key-less ``/model/remove``).

        Unloading only drops a cache entry (the model reloads on next use); it
        reads and writes nothing of any workspace.
        """
        project, version = parse_model_id(model_id)
        name = f"{project}/{version}"
        with self._lock:
            for table in (self._models, self._stubs):
                for key in [k for k in table if k[1] == name]:
                    del table[key]

    def clear_all(self) -> None:
        """Unload every loaded model of every workspace (a key-less ``/model/clear``)."""
        with self._lock:
            self._models.clear()
            self._stubs.clear()

    def workspace_of(self, api_key: str) -> str:
        """The workspace of ``api_key``, as every lookup of this registry resolves it (cached,
        stale-while-error); UnauthorizedError for an unknown key."""
        return self._workspace(api_key)

    # ------------------------------------------------------------------ internals

    def _workspace(self, api_key: str) -> str:
        return self._workspaces.get(api_key, lambda: self._source.workspace_of(api_key))

    def _project_type(self, api_key: str, workspace: str, project: str) -> str:
        return self._types.get(
            (workspace, project), lambda: self._source.project_type(api_key, project)
        )

    def _get_stub(self, api_key: str, key: _Key, project: str) -> StubModel:
        try:
            project_type = self._project_type(api_key, key[0], project)
        except NotFoundError:
            with self._lock:
                self._stubs.pop(key, None)
            raise
        with self._lock:
            entry = self._stubs.get(key)
            if entry is not None and entry[1] == project_type:
                self._stubs.move_to_end(key)
                return entry[0]
        stub = StubModel(model_id=key[1], task_type=project_type)
        with self._lock:
            self._stubs[key] = (stub, project_type)
            self._stubs.move_to_end(key)
            while len(self._stubs) > MAX_STUBS:
                self._stubs.popitem(last=False)
        return stub

    def _load(self, api_key: str, workspace: str, project: str, version: int) -> Model:
        from winnow.models.onnx.model import load_onnx_model

        info = self._infos.get(
            (workspace, project, version),
            lambda: self._source.model_info(api_key, project, version),
        )
        metadata = dict(info.metadata)
        # A multi-label project's classifier scores classes independently.
        if (
            info.task_type == "classification"
            and "multi_label" not in metadata
            and self._project_type(api_key, workspace, project) == "multi-label-classification"
        ):
            metadata["multi_label"] = True
        path = self._cached_file(api_key, workspace, info)
        return load_onnx_model(
            info.model_id,
            path,
            task_type=info.task_type,
            class_names=list(info.class_names),
            metadata=metadata,
        )

    def file_path(self, workspace: str, sha256: str) -> Path:
        """Where the ONNX file of that sha256 is cached for the workspace."""
        folder = workspace if _SAFE_DIR.match(workspace) else _digest(workspace.encode())
        return self._cache_dir / folder / f"{sha256.lower()}.onnx"

    def _cached_file(self, api_key: str, workspace: str, info: ModelInfo) -> Path:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", info.sha256):
            raise ServiceUnavailableError(
                f"model {info.model_id} has no valid sha256 on the platform: {info.sha256!r}"
            )
        path = self.file_path(workspace, info.sha256)
        if path.is_file() and _digest(path.read_bytes()) == info.sha256.lower():
            return path
        data = self._source.model_file(api_key, info.project, info.version)
        if _digest(data) != info.sha256.lower():
            raise ServiceUnavailableError(
                f"model file of {info.model_id} does not match its sha256 {info.sha256}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

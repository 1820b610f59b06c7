"""The platform service: ``Platform.open(settings)`` opens the database and blob store.

Everything the routes and in-process clients need that spans the database
and the blob store lives here (registering a datapoint writes the blob first,
then the rows in one transaction, and deletes the blob on any failure, so a
datapoint is either stored whole or not at all).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from winnow.activelearning.datapoint import DatapointMetadata
from winnow.errors import BadRequestError, ConflictError, NotFoundError, WinnowError
from winnow.platform import store
from winnow.platform.blobs import BlobStore, blob_store_from_url
from winnow.platform.db import Database
from winnow.platform.migrate import migrate
from winnow.platform.schema import Annotation, ModelVersion, Project, Workspace
from winnow.platform.sessions import Sessions, load_secret
from winnow.platform.store.datapoints import find_existing, new_blob_key
from winnow.platform.store.listing import image_project
from winnow.platform.store.models import model_blob_key
from winnow.platform.store.workspaces import count_workspaces
from winnow.settings import Settings
from winnow.states import AnnotationKind

if TYPE_CHECKING:
    from winnow.platform.predictions import PredictionStore

log = logging.getLogger("winnow.platform")
DEFAULT_WORKSPACE = "default"
_BLOB_THREADS = 8  # blobs of one register_many written at once


# The name callers used before DatapointMetadata was the one type from collector to store.
DatapointInput = DatapointMetadata


@dataclass(slots=True, frozen=True)
class RegisterItem:
    """One datapoint of :meth:`Platform.register_many`: what :meth:`Platform.register` takes."""

    workspace: Workspace
    project: str
    data: bytes
    datapoint: DatapointMetadata
    trusted: bool = False


class _Raced:
    """The mark of an item whose bytes raced into the project from elsewhere (PostgreSQL
    only): it is registered again, alone."""


class Platform:
    """The platform role of one process: database, blob store and web sessions."""

    def __init__(self, settings: Settings, db: Database, blobs: BlobStore) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.bootstrap_key: str | None = None
        self._sessions: Sessions | None = None
        self._sessions_lock = threading.Lock()
        self._predictions: PredictionStore | None = None

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        """Open (and migrate) the database and blob store; bootstrap an empty database.

        On an empty database, workspace ``default`` gets one API key (the
        ``api_key`` setting, or a generated one), available once as
        ``bootstrap_key`` and written to ``<data_dir>/api-key`` with mode 0600.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.from_url(settings.resolved_database_url)
        migrate(db.engine)
        platform = cls(settings, db, blob_store_from_url(settings.resolved_blob_url, settings))
        platform.bootstrap_key = platform._bootstrap()
        return platform

    def _bootstrap(self) -> str | None:
        try:
            with self.db.write() as session:
                if count_workspaces(session=session):
                    return None
                workspace = store.create_workspace(session=session, name=DEFAULT_WORKSPACE)
                _record, key = store.create_api_key(
                    session=session, workspace=workspace, plaintext=self.settings.api_key
                )
        except IntegrityError:  # another process bootstrapped at the same moment
            return None
        path = self.settings.data_dir / "api-key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        os.chmod(path, 0o600)
        log.info("created workspace 'default'; its API key is in %s", path)
        return key

    @property
    def sessions(self) -> Sessions:
        """Web UI sign-in sessions, signed with ``<data_dir>/web-secret`` (made on first use)."""
        with self._sessions_lock:
            if self._sessions is None:
                self._sessions = Sessions(self.db, load_secret(self.settings.data_dir))
            return self._sessions

    @property
    def predictions(self) -> PredictionStore:
        """The prediction log's segments in the blob store (``winnow.platform.predictions``)."""
        from winnow.platform.predictions import PredictionStore  # pyarrow: on first use

        with self._sessions_lock:
            if self._predictions is None:
                self._predictions = PredictionStore(self.settings, self.db, self.blobs)
            return self._predictions

    def close(self) -> None:
        """Release the database and blob store."""
        self.db.close()
        self.blobs.close()

    # ------------------------------------------------------------------ reads

    def workspace(self, api_key: str | None) -> Workspace:
        """The workspace of ``api_key``; UnauthorizedError for a missing or unknown key."""
        with self.db.read() as session:
            return store.resolve_key(session=session, api_key=api_key)

    def project(self, workspace: Workspace, name: str) -> Project:
        """The workspace's project ``name``; NotFoundError otherwise."""
        with self.db.read() as session:
            return store.get_project(session=session, workspace=workspace, name=name)

    # ----------------------------------------------------------------- writes

    def register(
        self,
        *,
        workspace: Workspace,
        project: str,
        data: bytes,
        datapoint: DatapointMetadata,
        trusted: bool = False,
    ) -> store.RegisterResult:
        """Store one image with its tags, provenance and prediction, atomically and idempotently.

        The image and then the metadata are validated once (``store.check_image``,
        ``store.check_datapoint``), before the blob is written. ``trusted``: the
        JPEG was encoded by this process (in-process delivery), so only its
        header is read instead of decoding it again.
        """
        checked = store.check_image(
            data,
            max_bytes=self.settings.max_upload_bytes,
            max_pixels=self.settings.max_image_pixels,
            trusted=trusted,
        )
        with self.db.read() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            metadata = store.check_datapoint(datapoint, target.type)
            found = find_existing(
                session=session,
                project=target,
                sha256=checked.sha256,
                idempotency_key=metadata.idempotency_key,
            )
            if found is not None:
                return found
        key = new_blob_key(target, checked.content_type)
        self.blobs.put(key, data)
        try:
            result = self._register_rows(target, checked, key, metadata)
        except BaseException:
            self.blobs.delete(key)
            raise
        if result.duplicate or result.replayed:
            self.blobs.delete(key)
        return result

    def register_many(
        self, items: Sequence[RegisterItem]
    ) -> list[store.RegisterResult | Exception]:
        """Store many datapoints with ONE write transaction; per item its result or its error.

        Each item is what :meth:`register` takes and gets the same checks and the
        same idempotency (by key, then by bytes): a replay or a duplicate within
        the batch is found like one across batches. An item refused (a bad
        field, a full batch, an unknown project) gets its ``WinnowError`` and
        does not stop the others: each registers under a savepoint. Any other
        failure of the transaction raises, and nothing of the batch is stored.
        """
        results: list[store.RegisterResult | Exception | _Raced | None] = [None] * len(items)
        checked = self._check_many(items, results)
        keys = {
            i: new_blob_key(target, image.content_type)
            for i, (target, image, _m) in checked.items()
        }
        try:
            # Side by side: the local store's fsyncs then share journal commits, S3's
            # uploads their round trips.
            with ThreadPoolExecutor(max_workers=_BLOB_THREADS) as pool:
                list(pool.map(lambda i: self.blobs.put(keys[i], checked[i][1].data), keys))
            with self.db.write() as session:
                groups: dict[int, list[int]] = {}
                for i, (target, _image, _metadata) in checked.items():
                    groups.setdefault(target.id, []).append(i)
                for places in groups.values():
                    self._register_group(session, places, checked, keys, results)
        except BaseException:
            for key in keys.values():
                self.blobs.delete(key)
            raise
        for i in checked:
            result = results[i]
            if not isinstance(result, store.RegisterResult) or result.duplicate or result.replayed:
                self.blobs.delete(keys[i])
            if isinstance(result, _Raced):  # the same bytes raced in elsewhere: alone
                target, image, metadata = checked[i]
                try:
                    results[i] = self._register_alone(target, image, metadata)
                except WinnowError as exc:
                    results[i] = exc
        return [
            r if r is not None and not isinstance(r, _Raced) else ConflictError("not registered")
            for r in results
        ]

    def _check_many(
        self,
        items: Sequence[RegisterItem],
        results: list[store.RegisterResult | Exception | _Raced | None],
    ) -> dict[int, tuple[Project, store.CheckedImage, store.CheckedMetadata]]:
        """The read phase of :meth:`register_many`: the checks of every item.

        Fills ``results`` for items refused; returns the others.
        """
        checked: dict[int, tuple[Project, store.CheckedImage, store.CheckedMetadata]] = {}
        projects: dict[tuple[int, str], Project | WinnowError] = {}
        with self.db.read() as session:
            for i, item in enumerate(items):
                key = (item.workspace.id, item.project)
                if key not in projects:
                    try:
                        projects[key] = store.get_project(
                            session=session, workspace=item.workspace, name=item.project
                        )
                    except WinnowError as exc:
                        projects[key] = exc
                target = projects[key]
                try:
                    if isinstance(target, WinnowError):
                        raise target
                    image = store.check_image(
                        item.data,
                        max_bytes=self.settings.max_upload_bytes,
                        max_pixels=self.settings.max_image_pixels,
                        trusted=item.trusted,
                    )
                    metadata = store.check_datapoint(item.datapoint, target.type)
                except WinnowError as exc:
                    results[i] = exc
                    continue
                # Earlier registrations are looked up in the write transaction, all at once.
                checked[i] = (target, image, metadata)
        return checked

    def _register_group(
        self,
        session: Any,
        places: list[int],
        checked: dict[int, tuple[Project, store.CheckedImage, store.CheckedMetadata]],
        keys: dict[int, str],
        results: list[store.RegisterResult | Exception | _Raced | None],
    ) -> None:
        """The items of one project: in one go (``store.register_datapoints``) under a
        savepoint, or, should that fail (a race on PostgreSQL), one savepoint each."""
        target = checked[places[0]][0]
        pending = [
            store.PendingImage(image=checked[i][1], blob_key=keys[i], metadata=checked[i][2])
            for i in places
        ]
        try:
            with session.begin_nested():
                project = session.get(Project, target.id)
                if project is None:  # deleted meanwhile
                    raise NotFoundError(f"project {target.name!r} not found")
                done = store.register_datapoints(session=session, project=project, items=pending)
        except (WinnowError, IntegrityError):
            for i in places:
                _target, image, metadata = checked[i]
                results[i] = self._register_one(session, target, image, keys[i], metadata)
            return
        for i, result in zip(places, done, strict=True):
            results[i] = result

    def _register_one(
        self,
        session: Any,
        target: Project,
        image: store.CheckedImage,
        key: str,
        metadata: store.CheckedMetadata,
    ) -> store.RegisterResult | Exception | _Raced:
        """One item of :meth:`register_many` under a savepoint of its transaction."""
        try:
            with session.begin_nested():
                project = session.get(Project, target.id)
                if project is None:  # deleted meanwhile
                    raise NotFoundError(f"project {target.name!r} not found")
                return store.register_datapoint(
                    session=session, project=project, image=image, blob_key=key, metadata=metadata
                )
        except WinnowError as exc:
            return exc
        except IntegrityError:
            return _Raced()

    def _register_alone(
        self, target: Project, image: store.CheckedImage, metadata: store.CheckedMetadata
    ) -> store.RegisterResult:
        key = new_blob_key(target, image.content_type)
        self.blobs.put(key, image.data)
        try:
            result = self._register_rows(target, image, key, metadata)
        except BaseException:
            self.blobs.delete(key)
            raise
        if result.duplicate or result.replayed:
            self.blobs.delete(key)
        return result

    def _register_rows(
        self, target: Project, checked: store.CheckedImage, key: str, dp: store.CheckedMetadata
    ) -> store.RegisterResult:
        for attempt in range(3):
            try:
                with self.db.write() as session:
                    project = session.get(Project, target.id)
                    if project is None:  # deleted meanwhile
                        raise NotFoundError(f"project {target.name!r} not found")
                    return store.register_datapoint(
                        session=session, project=project, image=checked, blob_key=key, metadata=dp
                    )
            except IntegrityError:
                # PostgreSQL only: the same bytes raced into another batch; retry finds them.
                if attempt == 2:
                    raise ConflictError("the image was registered concurrently; retry") from None
        raise AssertionError("unreachable")

    def annotate(
        self,
        *,
        workspace: Workspace,
        project: str,
        image_id: str,
        body: str,
        name: str | None,
        prediction: bool,
    ) -> Annotation:
        """Add an annotation to an image of ``project``; 404 if the image is not in it."""
        with self.db.write() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            image = store.get_image(session=session, workspace=workspace, image_id=image_id)
            if image.project_id != target.id:
                raise NotFoundError(f"image {image_id!r} not found")
            if prediction and any(
                a.kind == AnnotationKind.PREDICTION
                for a in store.list_annotations(session=session, image=image)
            ):
                raise ConflictError(f"image {image_id} already has a prediction annotation")
            return store.add_annotation(
                session=session,
                image=image,
                project_type=target.type,
                body=body,
                name=name,
                prediction=prediction,
            )

    def image_file(self, workspace: Workspace, image_id: str) -> tuple[bytes, str]:
        """The stored bytes and content type of an image of the workspace."""
        with self.db.read() as session:
            image = store.get_image(session=session, workspace=workspace, image_id=image_id)
            key, content_type = image.blob_key, image.content_type
        return self.blobs.get(key), content_type

    def image_details(self, workspace: Workspace, image_id: str) -> dict[str, Any]:
        """An image's metadata with its batch name and annotations, as JSON."""
        from winnow.platform.views import annotation_json, image_json

        with self.db.read() as session:
            image = store.get_image(session=session, workspace=workspace, image_id=image_id)
            project = image_project(session=session, image=image)
            batches = {
                b.batch.id: b.batch.name
                for b in store.list_batches(session=session, project=project)
            }
            body = image_json(image, project.name, batches)
            body["annotations"] = [
                annotation_json(a) for a in store.list_annotations(session=session, image=image)
            ]
            return body

    def add_model(
        self,
        *,
        workspace: Workspace,
        model_id: str,
        data: bytes,
        task_type: str | None = None,
        class_names: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[Project, ModelVersion]:
        """Register an ONNX file as ``project/version``; blob first, row second."""
        project_name, version = store.parse_model_id(model_id)
        if not data:
            raise BadRequestError("file: the model file is empty")
        project = self.project(workspace, project_name)
        key = model_blob_key(project, version)
        with self.db.read() as session:
            # Refuse before touching the blob of an existing version.
            existing = store.list_model_versions(
                session=session, workspace=workspace, project=project
            )
            if any(m.version == version for _p, m in existing):
                raise ConflictError(f"model {project_name}/{version} is already registered")
        self.blobs.put(key, data)
        try:
            with self.db.write() as session:
                record = store.add_model_version(
                    session=session,
                    project=project,
                    version=version,
                    data=data,
                    blob_key=key,
                    task_type=task_type,
                    class_names=class_names,
                    metadata=metadata,
                )
        except BaseException:
            self.blobs.delete(key)
            raise
        return project, record

    def model_version(
        self, workspace: Workspace, project: str, version: int
    ) -> tuple[Project, ModelVersion]:
        """A registered version of the workspace's project; NotFoundError naming it otherwise."""
        with self.db.read() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            return target, store.get_model_version(session=session, project=target, version=version)

    def delete_model(self, workspace: Workspace, project: str, version: int) -> None:
        """Unregister a model version and delete its file; NotFoundError when there is none."""
        with self.db.write() as session:
            target = store.get_project(session=session, workspace=workspace, name=project)
            record = store.get_model_version(session=session, project=target, version=version)
            key = record.blob_key
            session.delete(record)
        self.blobs.delete(key)

    def model_file(self, workspace: Workspace, project: str, version: int) -> bytes:
        """The ONNX bytes of a registered version."""
        _project, record = self.model_version(workspace, project, version)
        return self.blobs.get(record.blob_key)

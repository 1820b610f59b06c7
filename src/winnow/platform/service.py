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
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from winnow.activelearning.datapoint import DatapointMetadata
from winnow.errors import BadRequestError, ConflictError, NotFoundError
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


# The name callers used before DatapointMetadata was the one type from collector to store.
DatapointInput = DatapointMetadata


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

"""Blob stores for image and model bytes, chosen by URL: local folder or S3-compatible.

    BlobStore           protocol: put / get / delete / exists / scan / close
    ├── LocalBlobStore  file:///path — write a temp file, then os.replace (never a torn file)
    └── S3BlobStore     s3://bucket/prefix — boto3, endpoint and region from Settings

Keys are relative paths made of ``[A-Za-z0-9._/-]`` (the store builds them, never users).
``scan`` lists what a store holds with its age, temp files of interrupted
local writes (``.tmp-*``, left by a crash) included, for the orphan sweep
(``winnow.platform.sweep``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from winnow.errors import ConfigurationError, NotFoundError
from winnow.settings import Settings

_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
TEMP_PREFIX = ".tmp-"


@dataclass(slots=True, frozen=True)
class StoredBlob:
    """One entry of :meth:`BlobStore.scan`: its key, last write (epoch seconds), temp or not."""

    key: str
    modified: float
    temp: bool = False


def _check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    """Stores bytes under keys."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous value atomically."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; NotFoundError when there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it does not exist."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds bytes."""
        ...

    def scan(self) -> Iterator[StoredBlob]:
        """Every blob (and leftover temp file) in the store, in no particular order."""
        ...

    def close(self) -> None:
        """Release clients."""
        ...


class LocalBlobStore:
    """Blobs as files under ``root``; writes go to a temp file then ``os.replace``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (temp file in the same folder, fsync, rename)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """The bytes under ``key``."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {key!r} not found") from None

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def scan(self) -> Iterator[StoredBlob]:
        """Every file under the root; ``temp`` for ``.tmp-*`` files of unfinished writes."""
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(folder) / name
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:  # replaced or deleted meanwhile
                    continue
                key = path.relative_to(self.root).as_posix()
                yield StoredBlob(key, modified, temp=name.startswith(TEMP_PREFIX))

    def close(self) -> None:
        """Nothing to release."""


class S3BlobStore:
    """Blobs as objects in ``bucket`` under ``prefix`` on AWS or any S3-compatible server."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import boto3
            except ImportError:  # pragma: no cover - depends on the install
                raise ConfigurationError(
                    "s3:// blob storage needs boto3: pip install 'winnow[s3]'"
                ) from None
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Upload ``data`` (one PUT: S3 objects are replaced atomically)."""
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        """Download the object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise NotFoundError(f"blob {key!r} not found") from None
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        """Delete the object (S3 deletes of missing keys succeed)."""
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def scan(self) -> Iterator[StoredBlob]:
        """Every object under the prefix (S3 writes are single PUTs: no temp objects)."""
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = str(item["Key"])[len(prefix) :]
                yield StoredBlob(key, item["LastModified"].timestamp())

    def close(self) -> None:
        """Close the HTTP connections of the client."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def blob_store_from_url(url: str, settings: Settings) -> BlobStore:
    """The store for ``file:///path`` (or a bare path) or ``s3://bucket/prefix``."""
    try:
        parsed = urlparse(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise ConfigurationError(f"invalid blob URL {url!r}: {exc}") from None
    if parsed.scheme in {"", "file"}:
        path = parsed.path if parsed.scheme == "file" else url
        if not path:
            raise ConfigurationError(f"blob URL {url!r} names no folder")
        return LocalBlobStore(path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"blob URL {url!r} names no bucket: use s3://bucket/prefix")
        return S3BlobStore(
            parsed.netloc,
            parsed.path.strip("/"),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    raise ConfigurationError(
        f"unsupported blob URL {url!r}: use file:///path or s3://bucket/prefix"
    )

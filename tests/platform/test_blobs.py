"""Blob store contract, on a local folder and on a real S3-speaking server (moto_server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from winnow.errors import ConfigurationError, NotFoundError
from winnow.platform.blobs import BlobStore, LocalBlobStore, S3BlobStore, blob_store_from_url
from winnow.settings import Settings


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """A blob store of each kind."""
    if request.param == "local":
        store: BlobStore = LocalBlobStore(tmp_path / "blobs")
    else:
        settings: Settings = request.getfixturevalue("s3_settings")
        store = blob_store_from_url(settings.resolved_blob_url, settings)
        assert isinstance(store, S3BlobStore)
    yield store
    store.close()


def test_put_get_replace_delete(blobs: BlobStore) -> None:
    assert not blobs.exists("a/b.jpg")
    blobs.put("a/b.jpg", b"one")
    assert blobs.exists("a/b.jpg")
    assert blobs.get("a/b.jpg") == b"one"
    blobs.put("a/b.jpg", b"two")
    assert blobs.get("a/b.jpg") == b"two"
    blobs.delete("a/b.jpg")
    assert not blobs.exists("a/b.jpg")
    blobs.delete("a/b.jpg")  # deleting twice is fine
    with pytest.raises(NotFoundError):
        blobs.get("a/b.jpg")


def test_keys_cannot_escape_the_store(blobs: BlobStore) -> None:
    for key in ("../x", "/abs", "a/../../b", "a//b", ""):
        with pytest.raises(ValueError, match="invalid blob key"):
            blobs.put(key, b"x")


def test_local_store_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    for i in range(5):
        store.put("k/v.bin", bytes([i]) * 1000)
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["v.bin"]


def test_blob_store_from_url_schemes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert isinstance(blob_store_from_url(f"file://{tmp_path}/b", settings), LocalBlobStore)
    assert isinstance(blob_store_from_url(str(tmp_path / "c"), settings), LocalBlobStore)
    with pytest.raises(ConfigurationError, match="unsupported blob URL"):
        blob_store_from_url("ftp://host/x", settings)
    with pytest.raises(ConfigurationError, match="bucket"):
        blob_store_from_url("s3:///prefix", settings)
    # urlparse raises a bare ValueError here: once a startup traceback naming no setting
    with pytest.raises(ConfigurationError, match="invalid blob URL"):
        blob_store_from_url("s3://[::1", settings)


@pytest.mark.parametrize("url", ["postgresql://[::1", "postgresql://h:notaport/db", "sqlite://x:y"])
def test_make_engine_names_a_malformed_database_url(url: str) -> None:
    from winnow.platform.db import make_engine

    with pytest.raises(ConfigurationError, match="invalid database URL"):
        make_engine(url)


@pytest.mark.s3
def test_platform_stores_images_in_s3(s3_settings: Settings) -> None:
    from tests.factories import KEY, make_datapoint_input, make_jpeg, new_project
    from winnow.platform.service import Platform

    settings = s3_settings.model_copy(update={"api_key": KEY})
    platform = Platform.open(settings)
    try:
        workspace = platform.workspace(KEY)
        new_project(platform, "cars", workspace=workspace)
        result = platform.register(
            workspace=workspace, project="cars", data=make_jpeg(), datapoint=make_datapoint_input()
        )
        assert platform.image_file(workspace, str(result.image.id))[0] == make_jpeg()
        assert not (settings.data_dir / "blobs").exists()
    finally:
        platform.close()

"""The orphan sweep on a local folder and on S3 (moto_server): orphans go, referenced blobs stay."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import KEY as API_KEY
from tests.factories import make_datapoint_input as datapoint
from tests.factories import make_jpeg, new_project
from winnow.platform.blobs import LocalBlobStore
from winnow.platform.service import Platform
from winnow.platform.sweep import sweep_orphans
from winnow.settings import Settings

GRACE = 60.0


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """A Platform with local or S3 blobs and one project ``cars``."""
    if request.param == "local":
        settings = Settings(data_dir=tmp_path / "data", api_key=API_KEY)
    else:
        s3: Settings = request.getfixturevalue("s3_settings")
        settings = s3.model_copy(update={"api_key": API_KEY})
    opened = Platform.open(settings)
    new_project(opened, "cars")
    yield opened
    opened.close()


def _keys(platform: Platform) -> set[str]:
    return {blob.key for blob in platform.blobs.scan()}


def test_orphans_older_than_the_grace_period_are_swept_and_referenced_blobs_kept(
    platform: Platform,
) -> None:
    workspace = platform.workspace(API_KEY)
    stored = [
        platform.register(
            workspace=workspace, project="cars", data=make_jpeg(seed=i), datapoint=datapoint()
        ).image.blob_key
        for i in range(3)
    ]
    platform.add_model(workspace=workspace, model_id="cars/1", data=b"onnx", class_names=["a"])
    referenced = _keys(platform)
    assert set(stored) <= referenced and len(referenced) == 4
    thumb = f"thumbs/{stored[0]}"
    platform.blobs.put(thumb, b"thumb")
    # What a killed platform leaves: a blob whose rows never committed, a stray thumbnail.
    orphans = {
        stored[0].rsplit("/", 1)[0] + "/0123456789abcdef.jpg",
        "thumbs/images/9/9/gone.jpg",
    }
    for key in orphans:
        platform.blobs.put(key, b"orphan")
    platform.blobs.put("elsewhere/not-ours.bin", b"someone else's")
    temp = None
    if isinstance(platform.blobs, LocalBlobStore):
        temp = platform.blobs.root / "images" / ".tmp-abc123"
        temp.write_bytes(b"half a write")

    # Within the grace period everything stays: it may be a datapoint in flight.
    young = sweep_orphans(platform, grace=GRACE)
    assert (young.blobs, young.temp_files) == (0, 0)
    assert _keys(platform) >= referenced | orphans

    later = time.time() + GRACE + 5
    result = sweep_orphans(platform, grace=GRACE, clock=lambda: later)
    assert result.blobs == len(orphans)
    assert result.temp_files == (1 if temp is not None else 0)
    assert _keys(platform) == referenced | {thumb, "elsewhere/not-ours.bin"}
    if temp is not None:
        assert not temp.exists()
    for i, key in enumerate(stored):
        assert platform.blobs.get(key) == make_jpeg(seed=i)


def test_an_old_temp_file_is_swept_and_a_fresh_one_kept(tmp_path: Path) -> None:
    platform = Platform.open(Settings(data_dir=tmp_path / "data", api_key=API_KEY))
    try:
        assert isinstance(platform.blobs, LocalBlobStore)
        folder = platform.blobs.root / "images" / "1" / "1"
        folder.mkdir(parents=True)
        old, fresh = folder / ".tmp-old", folder / ".tmp-fresh"
        old.write_bytes(b"x")
        fresh.write_bytes(b"y")
        an_hour_ago = time.time() - 3600
        os.utime(old, (an_hour_ago, an_hour_ago))
        result = sweep_orphans(platform, grace=GRACE)
        assert (result.temp_files, result.young) == (1, 1)
        assert not old.exists() and fresh.exists()
    finally:
        platform.close()

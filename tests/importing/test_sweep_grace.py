"""A long import rewrites its first blobs before the commit, so the orphan sweep cannot take them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import KEY
from tests.importing.helpers import create_empty, jpeg
from winnow.errors import ServiceUnavailableError
from winnow.platform.importing import ImportFormat, ImportOptions, import_dataset, load
from winnow.platform.importing.files import DirectoryFiles
from winnow.platform.schema import Image
from winnow.platform.service import Platform
from winnow.settings import Settings

GRACE = 100.0


class SlowStore:
    """Wraps the platform's blob store: each write moves a fake clock on by ``step`` seconds."""

    def __init__(self, platform: Platform, step: float, *, every_write: bool) -> None:
        self.inner = platform.blobs
        self.now = 0.0
        self.step = step
        self.every_write = every_write
        self.writes: dict[str, int] = {}

    def put(self, key: str, data: bytes) -> None:
        if self.every_write or key not in self.writes:
            self.now += self.step
        self.writes[key] = self.writes.get(key, 0) + 1
        self.inner.put(key, data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def clock(self) -> float:
        return self.now


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.setattr(load, "_WORKERS", 1)  # writes in order, so the fake clock is exact
    p = Platform.open(
        Settings(data_dir=tmp_path / "data", api_key=KEY, blob_sweep_grace_seconds=GRACE)
    )
    create_empty(p, "p", "classification")
    yield p
    p.close()


def _dataset(root: Path) -> Path:
    for i, cls in enumerate(["cat", "dog", "cat"]):
        (root / cls).mkdir(parents=True, exist_ok=True)
        (root / cls / f"{i}.jpg").write_bytes(jpeg(16, 16, seed=i))
    return root


def _import(platform: Platform, store: SlowStore, root: Path) -> None:
    platform.blobs = store  # type: ignore[assignment]  # the same interface, spied on
    import_dataset(
        platform,
        workspace=platform.workspace(KEY),
        project="p",
        files=DirectoryFiles(root, max_bytes=10**7),
        options=ImportOptions(format=ImportFormat.FOLDERS, batch="b"),
        clock=store.clock,
    )


def test_blobs_older_than_half_the_grace_are_written_again_before_the_commit(
    platform: Platform, tmp_path: Path
) -> None:
    store = SlowStore(platform, step=40.0, every_write=False)  # writes end at 40, 80, 120 s
    _import(platform, store, _dataset(tmp_path / "ds"))
    # at 120 s only the first (80 s old) is older than half the grace (50 s): written again
    assert sorted(store.writes.values()) == [1, 1, 2]
    with platform.db.read() as session:
        keys = list(session.scalars(select(Image.blob_key)))
    assert len(keys) == 3 and all(store.inner.exists(k) for k in keys)


def test_an_import_too_slow_for_the_grace_fails_whole(platform: Platform, tmp_path: Path) -> None:
    store = SlowStore(platform, step=60.0, every_write=True)  # every rewrite is already stale
    with pytest.raises(ServiceUnavailableError, match="blob_sweep_grace_seconds"):
        _import(platform, store, _dataset(tmp_path / "ds"))
    with platform.db.read() as session:
        assert list(session.scalars(select(Image))) == []
    assert not any(store.inner.exists(k) for k in store.writes)

"""First start creates workspace 'default' with one key, written once to <data_dir>/api-key."""

from __future__ import annotations

import stat
from pathlib import Path

from winnow.platform import store
from winnow.platform.service import Platform
from winnow.settings import Settings


def test_first_start_generates_a_key_and_writes_it_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = Platform.open(settings)
    try:
        key = first.bootstrap_key
        assert key is not None and len(key) >= 24
        path = settings.data_dir / "api-key"
        assert path.read_text().strip() == key
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert first.workspace(key).name == "default"
    finally:
        first.close()
    second = Platform.open(settings)
    try:
        assert second.bootstrap_key is None  # not a fresh database: nothing printed again
        assert second.workspace(key).name == "default"
        with second.db.read() as session:
            workspace = store.get_workspace(session=session, name="default")
            assert len(store.list_api_keys(session=session, workspace=workspace)) == 1
    finally:
        second.close()


def test_api_key_setting_becomes_the_bootstrap_key(tmp_path: Path) -> None:
    platform = Platform.open(Settings(data_dir=tmp_path, api_key="my-scripted-key-1"))
    try:
        assert platform.bootstrap_key == "my-scripted-key-1"
        assert platform.workspace("my-scripted-key-1").name == "default"
    finally:
        platform.close()

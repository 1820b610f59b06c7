"""Settings: environment names, the reference's own variables, and the docs staying true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from winnow.settings import Role, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "reference" / "settings.md"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(WINNOW_[A-Z0-9_]+)`", DOCS.read_text()))
    missing = [f"WINNOW_{name.upper()}" for name in Settings.model_fields]
    missing = [name for name in missing if name not in documented]
    assert not missing, f"settings missing from docs/reference/settings.md: {missing}"


def test_every_setting_has_a_description() -> None:
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert not undocumented


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WINNOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WINNOW_PORT", "9100")
    monkeypatch.setenv("WINNOW_ROLE", "inference")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.port == 9100
    assert settings.role is Role.INFERENCE
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'winnow.db'}"
    assert settings.resolved_blob_url == f"file://{tmp_path / 'blobs'}"


@pytest.mark.parametrize(
    ("value", "expected"), [("false", False), ("False", False), ("0", False), ("true", True)]
)
def test_reference_active_learning_enabled_switch(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("ACTIVE_LEARNING_ENABLED", value)
    assert Settings().active_learning_enabled is expected


def test_reference_active_learning_tags_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTIVE_LEARNING_TAGS", "site-a, line:3,,cam/1")
    assert Settings().active_learning_tags == ["site-a", "line:3", "cam/1"]


def test_winnow_prefixed_tags_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINNOW_ACTIVE_LEARNING_TAGS", "x,y")
    assert Settings().active_learning_tags == ["x", "y"]


def test_bad_tag_is_refused_with_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVE_LEARNING_TAGS", "ok,not ok")
    with pytest.raises(ValidationError, match="not ok"):
        Settings()


def test_bad_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="port"):
        Settings(port=0)

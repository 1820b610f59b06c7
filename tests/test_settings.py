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


def test_reference_redis_variables_build_the_limits_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    assert Settings().limits_url == (
        "redis://cache.internal:6379/0?socket_timeout=2.0&socket_connect_timeout=2.0"
    )
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_SSL", "True")
    monkeypatch.setenv("REDIS_TIMEOUT", "0.5")
    assert Settings().limits_url == (
        "rediss://cache.internal:6380/0?socket_timeout=0.5&socket_connect_timeout=0.5"
    )
    monkeypatch.setenv("REDIS_HOST", "::1")
    assert Settings().limits_url.startswith("rediss://[::1]:6380/0?")
    # winnow's own setting wins
    monkeypatch.setenv("WINNOW_LIMITS_URL", "redis://other:1/2")
    assert Settings().limits_url == "redis://other:1/2"


def test_without_redis_host_limits_stay_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PORT", "6380")
    assert Settings().limits_url == "memory://"


def test_reference_redis_variables_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "h")
    monkeypatch.setenv("REDIS_PORT", "0")
    with pytest.raises(ValidationError, match=r"REDIS_PORT"):
        Settings()


def test_limits_url_from_redis_variables_means_what_the_reference_connects_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reference connects with redis.Redis(host, port, ssl=, socket_timeout=), db 0;
    # redis-py reads the same connection from the URL built here (no connection made).
    import redis

    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6390")
    monkeypatch.setenv("REDIS_SSL", "true")
    monkeypatch.setenv("REDIS_TIMEOUT", "3")
    client = redis.Redis.from_url(Settings().limits_url, socket_timeout=99)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6390, 0)
    assert kwargs["socket_timeout"] == 3.0 and kwargs["socket_connect_timeout"] == 3.0
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    client.close()

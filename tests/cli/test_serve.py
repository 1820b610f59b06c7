"""``winnow serve``: CLI flags override the environment; the command is registered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from winnow.cli.main import app
from winnow.cli.serve import build_settings, plan_collection, plan_workers
from winnow.errors import ConfigurationError
from winnow.settings import Role


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WINNOW_PORT", "7000")
    monkeypatch.setenv("WINNOW_ROLE", "platform")
    monkeypatch.setenv("WINNOW_LIMITS_URL", "redis://127.0.0.1:6379/3")
    settings = build_settings(port=7100, role=None, data_dir=tmp_path, limits_url=None)
    assert settings.port == 7100
    assert settings.role is Role.PLATFORM  # no flag: the environment stays in force
    assert settings.data_dir == tmp_path
    assert settings.limits_url == "redis://127.0.0.1:6379/3"


def test_serve_is_a_command_with_its_options() -> None:
    result = CliRunner().invoke(
        app, ["serve", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    )
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data-dir", "--role", "--platform-url", "--limits-url"):
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--limits-url", "ftp://x"], {}, "unsupported limits URL 'ftp://x'"),
        (["--role", "inference"], {}, "role inference needs a platform"),
        (["--role", "inference", "--platform-url", "http://[::1"], {}, "is malformed"),
        ([], {"WINNOW_DATABASE_URL": "mysql://x"}, "unsupported database URL 'mysql://x'"),
        ([], {"WINNOW_BLOB_URL": "gs://bucket"}, "unsupported blob URL 'gs://bucket'"),
    ],
)
def test_unusable_settings_stop_serve_with_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--port", "1", "--data-dir", str(tmp_path), *args],
        env={"COLUMNS": "300", **env},
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_workers_need_limits_shared_by_the_processes(tmp_path: Path) -> None:
    inference = {"data_dir": tmp_path, "role": Role.INFERENCE, "platform_url": "http://p:1"}
    local = f"local://{(tmp_path / 'limits.db').resolve()}"
    cores = os.cpu_count() or 1
    # Limits left at memory://: the one-host local backend of the data dir, shared by the workers.
    expected = (cores, local if cores > 1 else None)
    assert plan_workers(build_settings(**inference)) == expected
    assert plan_workers(build_settings(**inference, workers=1)) == (1, None)
    assert plan_workers(build_settings(**inference, workers=3)) == (3, local)
    redis = "redis://127.0.0.1:6379/2"
    assert plan_workers(build_settings(**inference, limits_url=redis, workers=3)) == (3, None)
    assert plan_workers(build_settings(**inference, limits_url=redis)) == (cores, None)
    # memory:// chosen on purpose cannot be shared: refused with N > 1, one process by default.
    memory = {**inference, "limits_url": "memory://"}
    assert plan_workers(build_settings(**memory)) == (1, None)
    with pytest.raises(ConfigurationError, match="needs limits shared by the serving processes"):
        plan_workers(build_settings(**memory, workers=2))
    with pytest.raises(ConfigurationError, match="role all serves from one process"):
        plan_workers(build_settings(data_dir=tmp_path, workers=2))
    assert plan_workers(build_settings(data_dir=tmp_path)) == (1, None)


def test_serve_with_workers_on_role_all_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--port", "1", "--data-dir", str(tmp_path), "--workers", "2"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 2, result.output
    assert "role all serves from one process" in result.output


def test_roles_all_and_inference_collect_in_a_process_of_their_own(tmp_path: Path) -> None:
    local = f"local://{(tmp_path / 'limits.db').resolve()}"
    inference = {"data_dir": tmp_path, "role": Role.INFERENCE, "platform_url": "http://p:1"}
    # Role all: one serving process and a collection process, sharing the local limits file.
    assert plan_collection(build_settings(data_dir=tmp_path), 1, None) == (True, local)
    assert plan_collection(build_settings(**inference, workers=1), 1, None) == (True, local)
    redis = "redis://127.0.0.1:6379/2"
    assert plan_collection(build_settings(data_dir=tmp_path, limits_url=redis), 1, None) == (
        True,
        None,
    )
    # Several serving processes always share one, with the limits plan_workers chose.
    assert plan_collection(build_settings(**inference, workers=3), 3, local) == (True, local)
    # In the serving process: asked for, memory:// chosen on purpose, or role platform.
    off = build_settings(data_dir=tmp_path, collection_process=False)
    assert plan_collection(off, 1, None) == (False, None)
    memory = build_settings(data_dir=tmp_path, limits_url="memory://")
    assert plan_collection(memory, 1, None) == (False, None)
    platform = build_settings(data_dir=tmp_path, role=Role.PLATFORM)
    assert plan_collection(platform, 1, None) == (False, None)

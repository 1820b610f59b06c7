"""The platform commands of the ``winnow`` CLI, on a temporary data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.factories import AL_CONFIG
from winnow.cli.main import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WINNOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WINNOW_API_KEY", "cli-test-key-123")
    monkeypatch.delenv("WINNOW_DATABASE_URL", raising=False)
    return CliRunner()


def run(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_workspaces_keys_projects(runner: CliRunner) -> None:
    created = run(runner, "workspaces", "create", "acme")
    assert (
        isinstance(created, dict)
        and created["workspace"] == "acme"
        and len(created["api_key"]) >= 24
    )
    key = run(runner, "keys", "create", "--workspace", "acme")
    assert isinstance(key, dict)
    listed = run(runner, "keys", "list", "-w", "acme")
    assert isinstance(listed, list) and len(listed) == 2
    revoked = run(runner, "keys", "revoke", str(key["id"]), "-w", "acme")
    assert revoked == {"id": key["id"], "prefix": key["api_key"][:6], "revoked": True}
    project = run(runner, "projects", "create", "cars", "--type", "object-detection")
    assert isinstance(project, dict) and project["workspace"] == "default"
    assert [p["name"] for p in run(runner, "projects", "list")] == ["cars"]  # type: ignore[attr-defined]
    bad = runner.invoke(app, ["projects", "create", "boats", "--type", "nope"])
    assert bad.exit_code == 1 and "type" in bad.stderr


def test_al_get_and_set_validate_first(runner: CliRunner, tmp_path: Path) -> None:
    run(runner, "projects", "create", "cars", "--type", "object-detection")
    assert run(runner, "al", "get", "cars") == {"enabled": False}
    good = tmp_path / "good.json"
    good.write_text(json.dumps(AL_CONFIG))
    saved = run(runner, "al", "set", "cars", str(good))
    assert isinstance(saved, dict) and saved["version"] == 1
    assert run(runner, "al", "get", "cars") == AL_CONFIG
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(AL_CONFIG, jpeg_compression_level=0)))
    result = runner.invoke(app, ["al", "set", "cars", str(bad)])
    assert result.exit_code == 1 and "jpeg_compression_level" in result.stderr
    assert run(runner, "al", "get", "cars") == AL_CONFIG
    missing = runner.invoke(app, ["al", "get", "boats"])
    assert missing.exit_code == 1 and "boats" in missing.stderr


def test_models_add_and_list(runner: CliRunner, tmp_path: Path) -> None:
    run(runner, "projects", "create", "cars", "--type", "object-detection")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx-bytes")
    added = run(runner, "models", "add", "cars/1", str(model), "--class-names", "car,bus")
    assert isinstance(added, dict) and added["class_names"] == ["car", "bus"]
    listed = run(runner, "models", "list")
    assert isinstance(listed, list) and [m["model_id"] for m in listed] == ["cars/1"]

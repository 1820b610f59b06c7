"""``winnow eval``: the figures as JSON or tables, and ``--run`` with a progress bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.evaluation.data import API_KEY, BUS, CAR, add_image, det, register_constant_model
from tests.factories import new_project
from winnow.cli.main import app
from winnow.platform.service import Platform
from winnow.settings import Settings


@pytest.fixture
def labeled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("WINNOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WINNOW_API_KEY", API_KEY)
    monkeypatch.delenv("WINNOW_DATABASE_URL", raising=False)
    platform = Platform.open(Settings())
    new_project(platform, "cars")
    add_image(platform, 1, det(CAR), det(CAR))
    add_image(platform, 2, det(CAR), det(CAR, BUS))
    register_constant_model(platform, "cars/3")
    return platform


def test_eval_json_prints_the_report_alone_on_stdout(labeled: Platform) -> None:
    labeled.close()
    result = CliRunner().invoke(app, ["eval", "cars", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 2
    assert report["per_class"]["bus"]["recall"] == 0.0
    assert report["per_class"]["car"]["ap50"] == pytest.approx(1.0)


def test_eval_prints_tables_without_json(labeled: Platform) -> None:
    labeled.close()
    result = CliRunner().invoke(app, ["eval", "cars", "--batch", "b1"])
    assert result.exit_code == 0, result.output
    assert "per class" in result.stdout and "confusion" in result.stdout


def test_eval_run_predicts_then_prints_the_figures(labeled: Platform) -> None:
    labeled.close()
    result = CliRunner().invoke(
        app, ["eval", "cars", "--model", "cars/3", "--batch", "b1", "--run", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["slice"]["model_id"] == "cars/3"
    assert report["images"] == 2
    assert report["predictions"] == 2
    assert "running cars/3" in result.stderr


def test_eval_errors_name_the_problem(labeled: Platform) -> None:
    labeled.close()
    missing = CliRunner().invoke(app, ["eval", "cars", "--run", "--json"])
    assert missing.exit_code == 1 and "--model" in missing.stderr
    unknown = CliRunner().invoke(app, ["eval", "cars", "--batch", "nope"])
    assert unknown.exit_code == 1 and "nope" in unknown.stderr

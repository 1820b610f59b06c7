"""``winnow al validate`` and ``winnow al schema`` through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from winnow.activelearning.config import config_json_schema
from winnow.cli.main import app

runner = CliRunner()

VALID = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [
        {"name": "default_strategy", "type": "random", "traffic_percentage": 0.1}
    ],
    "batching_strategy": {"batches_name_prefix": "al_batch", "recreation_interval": "daily"},
}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_valid_file_prints_summary_and_exits_0(tmp_path: Path) -> None:
    result = runner.invoke(app, ["al", "validate", write(tmp_path, json.dumps(VALID))])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "enabled: 1 strategy (default_strategy: random), batches 'al_batch' daily, "
        "persist predictions"
    )


def test_stdin_is_read_for_dash() -> None:
    result = runner.invoke(app, ["al", "validate", "-"], input='{"enabled": false}')
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "disabled"


def test_invalid_config_prints_every_error_line_and_exits_1(tmp_path: Path) -> None:
    bad = {
        "enabled": True,
        "tags": ["no spaces allowed"],
        "sampling_strategies": [
            {
                "name": "n",
                "type": "close_to_threshold",
                "threshold": 0.5,
                "epsilon": 0,
                "probability": 1,
            }
        ],
        "batching_strategy": {"batches_name_prefix": "b", "recreation_interval": "hourly"},
    }
    result = runner.invoke(app, ["al", "validate", write(tmp_path, json.dumps(bad))])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "tags[0]: must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > { } @",
        "sampling_strategies[0].epsilon: must be > 0",
        "batching_strategy.recreation_interval: must be one of never, daily, weekly, monthly",
        "persist_predictions: is required when enabled is true",
    ]
    assert result.stdout == ""


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "enabled": true,\n  "x": \n}')
    result = runner.invoke(app, ["al", "validate", path])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {path}: not valid JSON: Expecting value at line 4, column 1"
    )


@pytest.mark.parametrize("command", [["al", "validate"], ["al", "set", "cars"]])
def test_json_nested_past_the_recursion_limit_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    path = write(tmp_path, "[" * 100_000 + "]" * 100_000)
    result = runner.invoke(app, [*command, path])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines() == [f"error: {path}: JSON nested too deeply"]


def test_top_level_not_an_object(tmp_path: Path) -> None:
    result = runner.invoke(app, ["al", "validate", write(tmp_path, "[1, 2]")])
    assert result.exit_code == 1
    assert result.stderr.strip() == "<root>: must be an object"


def test_missing_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.json")
    result = runner.invoke(app, ["al", "validate", path])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == f"error: {path}: cannot read: No such file or directory"


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"enabled": "\xe9"}')
    result = runner.invoke(app, ["al", "validate", str(path)])
    assert result.exit_code == 1
    assert "not UTF-8 text" in result.stderr


def test_schema_prints_the_published_schema() -> None:
    result = runner.invoke(app, ["al", "schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == config_json_schema()
    published = Path(__file__).parents[2] / "docs" / "reference" / "al-config.schema.json"
    assert published.read_text(encoding="utf-8") == result.stdout


def test_warnings_are_printed_and_the_file_is_still_valid(tmp_path: Path) -> None:
    strategy = {"name": "default_strategy", "type": "random", "traffic_percentage": 0.1}
    data = {
        **VALID,
        "colour": "blue",
        "sampling_strategies": [{**strategy, "traffic_percentge": 1}],
    }
    result = runner.invoke(app, ["al", "validate", write(tmp_path, json.dumps(data))])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: sampling_strategies[0].traffic_percentge: unknown field, ignored (did you "
        "mean 'traffic_percentage'?)",
        "warning: colour: unknown field, ignored",
    ]
    assert result.stdout.startswith("enabled: 1 strategy (default_strategy: random)")


def test_backtest_prints_the_replay_beside_what_was_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from tests.factories import KEY, log_records, make_records, new_project
    from winnow.platform.service import Platform
    from winnow.settings import Settings

    monkeypatch.setenv("WINNOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WINNOW_API_KEY", KEY)
    platform = Platform.open(Settings())
    new_project(platform, "cars")
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    log_records(platform, make_records(300, seed=3, start=start, seconds=3600, project="cars"))
    platform.close()
    config = {
        **VALID,
        "sampling_strategies": [
            {
                "name": "default_strategy",
                "type": "random",
                "traffic_percentage": 1.0,
                "limits": [{"type": "daily", "value": 7}],
            }
        ],
    }
    path = write(tmp_path, json.dumps(config))
    window = ["--since", "2026-12-01T07:00:00Z", "--until", "2026-12-01T10:00Z"]
    as_json = runner.invoke(app, ["al", "backtest", "cars", path, *window, "--json"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.stdout)
    assert result["predictions"] == 300
    assert result["collected"] == 7
    assert result["strategies"]["default_strategy"]["limited"] == 293
    table = runner.invoke(app, ["al", "backtest", "cars", path, *window])
    assert table.exit_code == 0, table.output
    assert "backtest collects 7, actually collected 0" in table.stdout
    assert "default_strategy" in table.stdout
    assert "7 / 0" in table.stdout


def test_backtest_of_an_invalid_config_prints_its_errors(tmp_path: Path) -> None:
    bad = {**VALID, "sampling_strategies": [{"name": "x", "type": "random"}]}
    result = runner.invoke(app, ["al", "backtest", "cars", write(tmp_path, json.dumps(bad))])
    assert result.exit_code == 1
    assert "sampling_strategies[0].traffic_percentage: is required" in result.output

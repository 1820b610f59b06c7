"""The ``winnow`` command reports a WinnowError in one place: ``error: <message>`` and an exit code."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from winnow.cli.main import WinnowGroup, app
from winnow.errors import ConfigurationError, InvalidConfigError, NotFoundError


def tiny_app() -> typer.Typer:
    """A command group like ``winnow``'s, with commands that raise each kind of error."""
    tiny = typer.Typer(cls=WinnowGroup, pretty_exceptions_enable=False)

    @tiny.command()
    def missing() -> None:
        raise NotFoundError("project 'boats' not found")

    @tiny.command()
    def unusable() -> None:
        raise ConfigurationError("WINNOW_LIMITS_URL: unsupported scheme 'x'")

    @tiny.command()
    def invalid() -> None:
        raise InvalidConfigError(["a.b: must be > 0", "c: unknown field"])

    return tiny


def test_an_error_is_one_line_and_exit_code_1() -> None:
    result = CliRunner().invoke(tiny_app(), ["missing"])
    assert result.exit_code == 1
    assert result.stderr == "error: project 'boats' not found\n"
    assert result.stdout == ""


def test_a_configuration_error_exits_2() -> None:
    result = CliRunner().invoke(tiny_app(), ["unusable"])
    assert result.exit_code == 2
    assert result.stderr == "error: WINNOW_LIMITS_URL: unsupported scheme 'x'\n"


def test_an_invalid_configuration_lists_its_problems() -> None:
    result = CliRunner().invoke(tiny_app(), ["invalid"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["a.b: must be > 0", "c: unknown field"]


def test_real_commands_report_through_it(tmp_path: Path) -> None:
    env = {"WINNOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300"}
    export = CliRunner().invoke(app, ["export", "boats", "-o", str(tmp_path / "x")], env=env)
    assert export.exit_code == 1
    assert export.stderr.startswith("error: ") and "boats" in export.stderr
    serve = CliRunner().invoke(
        app, ["serve", "--port", "1", "--data-dir", str(tmp_path), "--limits-url", "x://y"], env=env
    )
    assert serve.exit_code == 2
    assert serve.stderr.startswith("error: ") and "Traceback" not in serve.output

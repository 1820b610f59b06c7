"""Entry point of the ``winnow`` command: registers every command group, reports errors.

A :class:`~winnow.errors.WinnowError` escaping any command is reported here
and nowhere else: ``error: <message>`` on stderr (an invalid active learning
configuration: its problems, one per line) and exit code 1, or 2 for a
:class:`~winnow.errors.ConfigurationError` (the command cannot start with
these settings or arguments). No traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from winnow.cli import al, outbox
from winnow.cli import platform as platform_commands
from winnow.cli import serve as serve_command
from winnow.cli import stream as stream_command
from winnow.cli.collect import collect as collect_command
from winnow.cli.evaluate import evaluate as evaluate_command
from winnow.cli.export import export as export_command
from winnow.cli.importing import import_command
from winnow.errors import ConfigurationError, InvalidConfigError, WinnowError


def error_lines(exc: WinnowError) -> list[str]:
    """What the command prints for ``exc``."""
    if isinstance(exc, InvalidConfigError):
        return list(exc.errors)
    return [f"error: {exc.message}"]


def exit_code(exc: WinnowError) -> int:
    """2 when the command cannot start with its settings or arguments, 1 otherwise."""
    return 2 if isinstance(exc, ConfigurationError) else 1


class WinnowGroup(TyperGroup):
    """The root command group: every subcommand runs inside its error report."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer keeps its click Context type private
        """Run the subcommand; a WinnowError becomes its lines on stderr and an exit code."""
        try:
            return super().invoke(ctx)
        except WinnowError as exc:
            for line in error_lines(exc):
                typer.echo(line, err=True)
            raise typer.Exit(code=exit_code(exc)) from None


app = typer.Typer(
    name="winnow",
    cls=WinnowGroup,
    help="Serve computer-vision predictions and collect the images worth labeling.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(al.app, name="al")
app.add_typer(outbox.app, name="outbox")
app.add_typer(platform_commands.workspaces_app, name="workspaces")
app.add_typer(platform_commands.keys_app, name="keys")
app.add_typer(platform_commands.projects_app, name="projects")
app.add_typer(platform_commands.models_app, name="models")
app.command("serve")(serve_command.serve)
app.command("collect")(collect_command)
app.command("export")(export_command)
app.command("eval")(evaluate_command)
app.command("import")(import_command)
app.command("stream")(stream_command.stream)


def main() -> None:
    """Run the ``winnow`` command."""
    app()

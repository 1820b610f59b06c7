"""Entry point of the ``winnow`` command: registers every command group."""

from __future__ import annotations

import typer

from winnow.cli import al, outbox
from winnow.cli import platform as platform_commands
from winnow.cli import serve as serve_command
from winnow.cli import stream as stream_command
from winnow.cli.evaluate import evaluate as evaluate_command
from winnow.cli.export import export as export_command

app = typer.Typer(
    name="winnow",
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
app.command("export")(export_command)
app.command("eval")(evaluate_command)
app.command("stream")(stream_command.stream)


def main() -> None:
    """Run the ``winnow`` command."""
    app()

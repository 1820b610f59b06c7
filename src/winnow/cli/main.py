"""Entry point of the ``winnow`` command: registers every command group."""

from __future__ import annotations

import typer

from winnow.cli import al

app = typer.Typer(
    name="winnow",
    help="Serve computer-vision predictions and collect the images worth labeling.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(al.app, name="al")


def main() -> None:
    """Run the ``winnow`` command."""
    app()

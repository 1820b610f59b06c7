"""``winnow al``: active learning configuration commands."""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from winnow.activelearning.config import config_json_schema, validate_config
from winnow.cli.jsonfile import read_json

app = typer.Typer(help="Active learning configuration: validate, show the schema, get, set.")


def _fail(console: Console, lines: list[str]) -> NoReturn:
    for line in lines:
        # markup off: messages contain [ ] (paths, the tag alphabet)
        console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="JSON configuration file, or - for stdin.")],
) -> None:
    """Validate an active learning configuration: print every problem, or a summary.

    What is accepted but ignored (unknown fields, limits of 0) is printed as
    ``warning: ...`` lines on stderr; the exit status stays 0.
    """
    errors = Console(stderr=True)
    data = read_json(file)
    config = validate_config(data)  # InvalidConfigError: its lines, exit 1 (winnow.cli.main)
    for warning in config.warnings:
        errors.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    Console().print(config.summary(), markup=False, highlight=False, soft_wrap=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the active learning configuration."""
    typer.echo(json.dumps(config_json_schema(), indent=2))

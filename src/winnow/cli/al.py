"""``winnow al``: active learning configuration commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from winnow.activelearning.config import config_json_schema, validate_config

app = typer.Typer(help="Active learning configuration: validate, show the schema, get, set.")


def _fail(console: Console, lines: list[str]) -> NoReturn:
    for line in lines:
        # markup off: messages contain [ ] (paths, the tag alphabet)
        console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def _read(file: str, console: Console) -> Any:
    name = "<stdin>" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        _fail(console, [f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})"])
    except OSError as exc:
        _fail(console, [f"{name}: cannot read: {exc.strerror or exc}"])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(
            console, [f"{name}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
        )


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="JSON configuration file, or - for stdin.")],
) -> None:
    """Validate an active learning configuration: print every problem, or a summary.

    What is accepted but ignored (unknown fields, limits of 0) is printed as
    ``warning: ...`` lines on stderr; the exit status stays 0.
    """
    errors = Console(stderr=True)
    data = _read(file, errors)
    config = validate_config(data)  # InvalidConfigError: its lines, exit 1 (winnow.cli.main)
    for warning in config.warnings:
        errors.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    Console().print(config.summary(), markup=False, highlight=False, soft_wrap=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the active learning configuration."""
    typer.echo(json.dumps(config_json_schema(), indent=2))

"""``winnow al``: active learning configuration commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Active learning configuration: validate, show the schema, get, set.")

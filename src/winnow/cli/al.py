"""``winnow al``: active learning configuration commands."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from winnow.activelearning.config import config_json_schema, validate_config
from winnow.cli.jsonfile import read_json

app = typer.Typer(
    help="Active learning configuration: validate, show the schema, get, set, backtest."
)


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


def _side_by_side(console: Console, result: dict[str, Any]) -> None:
    """The backtest and the actual figures as Rich tables (headline, strategies, sources)."""
    actual = result["actual"]
    console.print(
        f"{result['project']}: {result['predictions']} predictions "
        f"{result['since']} .. {result['until']} (seed {result['seed']}): "
        f"backtest collects {result['collected']}, actually collected {actual['collected']}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    keys = ("matched", "collected", "limited", "batch_full")
    table = Table("strategy", *keys, title="per strategy: backtest / actual")
    names = dict.fromkeys([*result["strategies"], *actual["strategies"]])
    for name in names:
        mine = result["strategies"].get(name, {})
        theirs = actual["strategies"].get(name, {})
        table.add_row(name, *(f"{mine.get(k, '-')} / {theirs.get(k, 0)}" for k in keys))
    console.print(table)
    sources = Table("source", "collected", title="per source: backtest / actual")
    for name, n in result["per_source"].items():
        sources.add_row(name, f"{n} / {actual['per_source'].get(name, 0)}")
    console.print(sources)
    outcomes = Table("outcome", "backtest", "actual", title="outcomes")
    for name in dict.fromkeys([*result["outcomes"], *actual["outcomes"]]):
        outcomes.add_row(
            name, str(result["outcomes"].get(name, 0)), str(actual["outcomes"].get(name, 0))
        )
    console.print(outcomes)
    for note in result["notes"]:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def backtest(
    project: Annotated[str, typer.Argument(help="Project name.")],
    file: Annotated[str, typer.Argument(help="JSON configuration file, or - for stdin.")],
    since: Annotated[
        str, typer.Option(help="Start: ISO time or a duration back from now (30m, 24h, 7d).")
    ] = "24h",
    until: Annotated[
        str | None, typer.Option(help="End (exclusive): ISO time or a duration (default: now).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random strategies' draws.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON object alone.")] = False,
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")] = (
        "default"
    ),
) -> None:
    """Replay PROJECT's logged predictions of the window through the configuration in FILE.

    Prints what it would have collected under its limits and batch cap, beside
    what the configuration in force collected (``POST /v1/projects/{project}/backtest``),
    reading the platform named by the settings. Invalid configurations print
    every field error (exit 1).
    """
    from winnow.backtest import service
    from winnow.platform import store
    from winnow.platform.service import Platform
    from winnow.settings import Settings

    data = read_json(file)
    config = validate_config(data)  # InvalidConfigError: its lines, exit 1 (winnow.cli.main)
    start, end = service.window(since, until)
    platform = Platform.open(Settings())
    try:
        with platform.db.read() as session:
            space = store.get_workspace(session=session, name=workspace)
            target = store.get_project(session=session, workspace=space, name=project)
        result = service.run(
            platform,
            workspace=space,
            project=target,
            config=config,
            since=start,
            until=end,
            seed=service.seed_of(seed),
        )
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _side_by_side(Console(), result)

"""``winnow eval``: how good a model version is on the project's labeled images.

Works on the platform database and blob store named by the settings (like
``winnow export``). Prints the figures of ``GET /v1/projects/{project}/evaluation``:
the JSON object alone on stdout with ``--json``, Rich tables otherwise. With
``--run`` the version is first run over the labeled images of the batches
(the ``POST /v1/projects/{project}/evaluations`` job, in this process, with a
progress bar on stderr).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from winnow.cli.progress import progress_bar
from winnow.errors import BadRequestError
from winnow.evaluation import jobs
from winnow.evaluation.query import EvaluationSlice, evaluate_project, parse_day
from winnow.platform import store
from winnow.platform.service import DEFAULT_WORKSPACE, Platform
from winnow.platform.store.workspaces import get_workspace
from winnow.settings import Settings


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def print_report(console: Console, report: dict[str, Any]) -> None:
    """The report as a headline line, a per-class table and the confusion matrix."""
    heads = ("images", "map", "map50", "precision", "recall", "accuracy")
    console.print(
        "  ".join(f"{k} {_figure(report[k])}" for k in heads if k in report),
        markup=False,
        highlight=False,
    )
    per_class = report.get("per_class", {})
    columns = [
        k
        for k in ("ap", "ap50", "precision", "recall", "f1", "support")
        if any(k in row for row in per_class.values())
    ]
    table = Table("class", *columns, title="per class")
    for name, row in per_class.items():
        table.add_row(name, *(_figure(row.get(k)) for k in columns))
    console.print(table)
    confusion = report.get("confusion")
    if confusion:
        matrix = Table("truth \\ predicted", *confusion["labels"], title="confusion")
        for label, row in zip(confusion["labels"], confusion["matrix"], strict=True):
            matrix.add_row(label, *(str(n) for n in row))
        console.print(matrix)


def evaluate(
    project: Annotated[str, typer.Argument(help="Project name.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model version P/N (default: as served).")
    ] = None,
    batch: Annotated[
        list[str] | None, typer.Option("--batch", "-b", help="Only this batch (repeatable).")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="Only images of this strategy.")] = None,
    config_version: Annotated[
        int | None, typer.Option(help="Only images of this AL config version.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only images of this source.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only images with this tag.")] = None,
    since: Annotated[str | None, typer.Option(help="Received on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Received on or before (YYYY-MM-DD).")] = None,
    run: Annotated[
        bool, typer.Option("--run", help="Run --model over the labeled images of --batch first.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON object alone.")] = False,
    workspace: Annotated[
        str, typer.Option("--workspace", "-w", help="Workspace name.")
    ] = DEFAULT_WORKSPACE,
) -> None:
    """Evaluate PROJECT's model on its labeled images (optionally re-running a version first)."""
    errors = Console(stderr=True)
    where = EvaluationSlice(
        model_id=model,
        batches=tuple(batch or ()),
        strategy=strategy,
        config_version=config_version,
        source=source,
        tag=tag,
        since=parse_day("since", since),
        until=parse_day("until", until),
    )
    if run and (model is None or not batch):
        raise BadRequestError("--run needs --model and at least one --batch")
    platform = Platform.open(Settings())
    try:
        with platform.db.read() as session:
            space = get_workspace(session=session, name=workspace)
            target = store.get_project(session=session, workspace=space, name=project)
        if run:
            job = jobs.create_job(
                platform=platform, project=target, model_id=model, batches=list(batch or ())
            )
            with progress_bar(f"running {model}", errors) as progress:
                task = progress.add_task("run", total=None)

                def step(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                jobs.run_job(platform=platform, project=target, job=job, progress=step)
        with platform.db.read() as session:
            report = evaluate_project(session=session, project=target, where=where)
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_report(Console(), report)

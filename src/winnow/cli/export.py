"""``winnow export``: write a project's labeled images as a training set (folder or zip).

Works on the platform database and blob store named by the settings (like
``winnow projects``), with a progress bar on stderr. The files are those of
``GET /v1/projects/{project}/export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from winnow.cli.progress import progress_bar
from winnow.platform import store
from winnow.platform.export.archive import write_directory, write_zip
from winnow.platform.export.formats import ExportFormat, export_files
from winnow.platform.export.routes import make_query
from winnow.platform.export.rows import build_export
from winnow.platform.service import DEFAULT_WORKSPACE, Platform
from winnow.platform.store.workspaces import get_workspace
from winnow.settings import Settings


def export(
    project: Annotated[str, typer.Argument(help="Project name.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (or .zip file with --zip).")
    ],
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Dataset format.")
    ] = ExportFormat.COCO,
    workspace: Annotated[
        str, typer.Option("--workspace", "-w", help="Workspace name.")
    ] = DEFAULT_WORKSPACE,
    batch: Annotated[
        list[str] | None, typer.Option("--batch", "-b", help="Only this batch (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            help="Image statuses to include (repeatable; default labeled, reviewed).",
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="train,valid,test fractions.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    predictions: Annotated[
        bool, typer.Option(help="Use the model's prediction for images without a human annotation.")
    ] = True,
    as_zip: Annotated[
        bool, typer.Option("--zip", help="Write one zip file instead of a folder.")
    ] = False,
) -> None:
    """Export PROJECT as COCO, YOLO, Pascal VOC or classification folders."""
    errors = Console(stderr=True)
    query = make_query(
        batches=batch or (),
        statuses=status or (),
        split=split,
        seed=seed,
        predictions=predictions,
    )
    platform = Platform.open(Settings())
    try:
        with platform.db.read() as session:
            space = get_workspace(session=session, name=workspace)
            target = store.get_project(session=session, workspace=space, name=project)
            dataset = build_export(session=session, project=target, query=query)
        files = export_files(dataset, format)
        with progress_bar("exporting", errors) as progress:
            task = progress.add_task("export", total=len(files))

            def step(done: int, _total: int) -> None:
                progress.update(task, completed=done)

            if as_zip:
                out.parent.mkdir(parents=True, exist_ok=True)
                with out.open("wb") as handle:
                    write_zip(files, platform.blobs.get, handle, step)
            else:
                write_directory(files, platform.blobs.get, out, step)
    finally:
        platform.close()
    errors.print(
        f"{len(dataset.images)} images, {len(dataset.classes)} classes -> {out}",
        markup=False,
        highlight=False,
    )

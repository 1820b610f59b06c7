"""``winnow import``: load a labeled dataset (folder or zip) into a project as human annotations.

Works on the platform database and blob store named by the settings (like
``winnow export``), with a progress bar on stderr. Bad input prints one
``error:`` line naming the file and entry and exits with code 1; nothing is
stored then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID

from winnow.cli.progress import progress_bar
from winnow.errors import PayloadTooLargeError, WinnowError
from winnow.platform.importing.files import DatasetFiles, DirectoryFiles, ZipFiles
from winnow.platform.importing.layout import parse_split_name
from winnow.platform.importing.load import ImportFormat, ImportOptions, import_dataset
from winnow.platform.service import DEFAULT_WORKSPACE, Platform
from winnow.platform.store.workspaces import get_workspace
from winnow.settings import Settings


def _files(path: Path, max_bytes: int) -> DatasetFiles:
    if path.is_file() and path.suffix.lower() == ".zip":
        if path.stat().st_size > max_bytes:
            raise PayloadTooLargeError(f"{path}: over the limit of {max_bytes} bytes")
        return ZipFiles(path, max_bytes=max_bytes)
    return DirectoryFiles(path, max_bytes=max_bytes)


def import_command(
    project: Annotated[str, typer.Argument(help="Project name.")],
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="The dataset's folder (or a .zip of it).")
    ],
    format: Annotated[ImportFormat, typer.Option("--format", "-f", help="Dataset format.")],
    batch: Annotated[
        str | None,
        typer.Option("--batch", "-b", help="Target batch (default: import-<folder name>)."),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(help="Import only this split: train, valid (val) or test."),
    ] = None,
    held_out: Annotated[
        bool,
        typer.Option(
            "--held-out", help="Mark the batch as a held-out evaluation set (never trained on)."
        ),
    ] = False,
    workspace: Annotated[
        str, typer.Option("--workspace", "-w", help="Workspace name.")
    ] = DEFAULT_WORKSPACE,
) -> None:
    """Import DIR (COCO, YOLO, Pascal VOC or classification folders) into PROJECT."""
    errors = Console(stderr=True)
    try:
        options = ImportOptions(
            format=format,
            batch=batch or f"import-{directory.stem}",
            split=parse_split_name(split) if split else None,
            held_out=held_out,
        )
        settings = Settings()
        files = _files(directory, settings.max_import_bytes)
        platform = Platform.open(settings)
        try:
            with platform.db.read() as session:
                space = get_workspace(session=session, name=workspace)
            with progress_bar("{task.description}", errors) as progress:
                tasks: dict[str, TaskID] = {}

                def step(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = progress.add_task(stage, total=total)
                    progress.update(tasks[stage], completed=done, total=total)

                result = import_dataset(
                    platform,
                    workspace=space,
                    project=project,
                    files=files,
                    options=options,
                    progress=step,
                )
        finally:
            platform.close()
            close = getattr(files, "close", None)
            if close is not None:
                close()
    except WinnowError as exc:
        errors.print(
            f"error: {exc.message}", style="red", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=1) from None
    note = f", {result.duplicates} already stored" if result.duplicates else ""
    added = f", new classes: {', '.join(result.new_classes)}" if result.new_classes else ""
    held = " (held out)" if result.held_out else ""
    errors.print(
        f"{result.images} images into {result.project}/{result.batch}{held}{note}{added}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )

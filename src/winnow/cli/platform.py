"""Platform commands: ``workspaces``, ``keys``, ``projects``, ``models``, and ``al get|set``.

They work on the platform database named by the settings (``WINNOW_DATABASE_URL``,
default the SQLite file in ``WINNOW_DATA_DIR``), migrating it first. Output is
JSON on stdout; errors go to stderr with exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from winnow.cli.al import app as al_app
from winnow.cli.jsonfile import read_json
from winnow.platform import store
from winnow.platform.service import DEFAULT_WORKSPACE, Platform
from winnow.platform.views import config_version_json, iso, model_json, project_json
from winnow.settings import Settings

workspaces_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of a workspace.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects of a workspace.", no_args_is_help=True)
models_app = typer.Typer(help="Model versions (ONNX files) of projects.", no_args_is_help=True)

T = TypeVar("T")
WorkspaceOption = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


@contextmanager
def _platform() -> Iterator[Platform]:
    platform = Platform.open(Settings())
    if platform.bootstrap_key is not None:
        typer.echo(
            f"created workspace 'default' with API key {platform.bootstrap_key} "
            f"(also in {platform.settings.data_dir / 'api-key'})",
            err=True,
        )
    try:
        yield platform
    finally:
        platform.close()


def _run(action: Callable[[Platform], T]) -> T:
    # A WinnowError is reported by winnow.cli.main.
    with _platform() as platform:
        return action(platform)


@workspaces_app.command("create")
def workspaces_create(name: Annotated[str, typer.Argument(help="Workspace name.")]) -> None:
    """Create a workspace and its first API key; prints both (the key is shown only now)."""

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.write() as session:
            workspace = store.create_workspace(session=session, name=name)
            _record, key = store.create_api_key(session=session, workspace=workspace)
            return {"workspace": workspace.name, "api_key": key}

    _print(_run(action))


@keys_app.command("create")
def keys_create(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Create an API key; prints it once."""

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.write() as session:
            ws = store.get_workspace(session=session, name=workspace)
            record, key = store.create_api_key(session=session, workspace=ws)
            return {"workspace": ws.name, "id": record.id, "api_key": key}

    _print(_run(action))


@keys_app.command("list")
def keys_list(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """List keys (id, prefix, created, revoked); plaintexts are never stored."""

    def action(platform: Platform) -> list[dict[str, Any]]:
        with platform.db.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            return [
                {
                    "id": k.id,
                    "prefix": k.prefix,
                    "created_at": iso(k.created_at),
                    "revoked": k.revoked,
                }
                for k in store.list_api_keys(session=session, workspace=ws)
            ]

    _print(_run(action))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="Key id (see keys list).")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Revoke a key: it stops working at once."""

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.write() as session:
            ws = store.get_workspace(session=session, name=workspace)
            record = store.revoke_api_key(session=session, workspace=ws, key_id=key_id)
            return {"id": record.id, "prefix": record.prefix, "revoked": True}

    _print(_run(action))


@projects_app.command("create")
def projects_create(
    name: Annotated[str, typer.Argument(help="Project name.")],
    type: Annotated[str, typer.Option("--type", "-t", help="Project type, e.g. object-detection.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Create a project."""

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.write() as session:
            ws = store.get_workspace(session=session, name=workspace)
            project = store.create_project(session=session, workspace=ws, name=name, type=type)
            return project_json(project, ws)

    _print(_run(action))


@projects_app.command("list")
def projects_list(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """List projects."""

    def action(platform: Platform) -> list[dict[str, Any]]:
        with platform.db.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            return [project_json(p, ws) for p in store.list_projects(session=session, workspace=ws)]

    _print(_run(action))


@models_app.command("add")
def models_add(
    model_id: Annotated[str, typer.Argument(help="<project>/<version>, e.g. cars/1.")],
    file: Annotated[Path, typer.Argument(help="ONNX file.", exists=True, dir_okay=False)],
    class_names: Annotated[
        str, typer.Option("--class-names", help="Comma-separated class names, in class id order.")
    ] = "",
    task_type: Annotated[
        str | None, typer.Option("--task-type", help="Default: the project's.")
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Register an ONNX file as a model version of a project."""
    names = [n.strip() for n in class_names.split(",") if n.strip()]

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
        project, record = platform.add_model(
            workspace=ws,
            model_id=model_id,
            data=file.read_bytes(),
            task_type=task_type,
            class_names=names,
        )
        return model_json(project, record, ws)

    _print(_run(action))


@models_app.command("list")
def models_list(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """List registered model versions."""

    def action(platform: Platform) -> list[dict[str, Any]]:
        with platform.db.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            return [
                model_json(p, m, ws)
                for p, m in store.list_model_versions(session=session, workspace=ws)
            ]

    _print(_run(action))


@al_app.command("get")
def al_get(
    project: Annotated[str, typer.Argument(help="Project name.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Print the project's configuration in force ({"enabled": false} when none was set)."""

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            target = store.get_project(session=session, workspace=ws, name=project)
            record = store.get_al_config(session=session, project=target)
            return dict(record.config) if record is not None else {"enabled": False}

    _print(_run(action))


@al_app.command("set")
def al_set(
    project: Annotated[str, typer.Argument(help="Project name.")],
    file: Annotated[Path, typer.Argument(help="JSON configuration file.", dir_okay=False)],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Validate a configuration file and save it as the project's next version."""
    config = read_json(file)

    def action(platform: Platform) -> dict[str, Any]:
        with platform.db.write() as session:
            ws = store.get_workspace(session=session, name=workspace)
            target = store.get_project(session=session, workspace=ws, name=project)
            record = store.save_al_config(
                session=session, project=target, config=config, created_by="cli"
            )
            return config_version_json(record)

    _print(_run(action))

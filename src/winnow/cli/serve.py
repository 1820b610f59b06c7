"""``winnow serve``: run the HTTP server (inference, platform, or both) under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from winnow.settings import Role, Settings

console = Console(stderr=True, soft_wrap=True)


def build_settings(**flags: Any) -> Settings:
    """Settings from the environment, with every given (non-None) CLI flag overriding it."""
    return Settings(**{name: value for name, value in flags.items() if value is not None})


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 9001).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder for the database, images and outbox.")
    ] = None,
    role: Annotated[Role | None, typer.Option(help="all (default), inference or platform.")] = None,
    platform_url: Annotated[
        str | None, typer.Option(help="Remote platform URL (role inference).")
    ] = None,
    limits_url: Annotated[
        str | None, typer.Option(help="memory:// or redis://host:port/db (shared limits).")
    ] = None,
) -> None:
    """Serve predictions and collect the images worth labeling."""
    import uvicorn

    from winnow.app import StartupInfo, create_app, preflight
    from winnow.http.protocols import protocol_class

    settings = build_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        role=role,
        platform_url=platform_url,
        limits_url=limits_url,
    )

    def announce(info: StartupInfo) -> None:
        console.print(f"winnow (role {info.role}): data in [bold]{info.data_dir}[/bold]")
        if info.platform_url:
            console.print(f"platform: {info.platform_url}")
        console.print(f"listening on [bold]{info.url}[/bold]")
        if info.bootstrap_key:
            console.print(
                f"created workspace 'default'; API key: [bold]{info.bootstrap_key}[/bold] "
                f"(saved in {info.data_dir / 'api-key'})"
            )

    preflight(settings)  # a ConfigurationError: one line and exit 2 (winnow.cli.main)
    app = create_app(settings, on_started=announce)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(settings),
        log_level=settings.log_level.lower(),
        access_log=False,
    )

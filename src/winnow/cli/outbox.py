"""``winnow outbox``: look into the durable outbox and drain it.

``status`` shows counts by status, bytes held and the oldest undelivered
age. ``drain`` delivers everything due now (``DeliveryWorker.run(burst=True)``)
to the platform the settings name: ``WINNOW_PLATFORM_URL``, or the embedded
platform of this data dir when no URL is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from winnow.activelearning.delivery import DeliveryWorker
from winnow.activelearning.outbox import Entry, EntryStatus, Outbox, OutboxStats
from winnow.metrics import Metrics
from winnow.settings import Settings

if TYPE_CHECKING:
    from winnow.platform.service import Platform

app = typer.Typer(help="The durable outbox of collected datapoints: status, drain.")


def _bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _table(stats: OutboxStats, title: str) -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("status")
    table.add_column("datapoints", justify="right")
    for status in EntryStatus:
        table.add_row(status.value, str(stats.counts[status]))
    table.add_section()
    table.add_row("bytes held", f"{_bytes(stats.bytes)} of {_bytes(stats.max_bytes)}")
    table.add_row("oldest pending", _age(stats.oldest_pending_age))
    return table


def _open(settings: Settings, console: Console) -> Outbox:
    path = settings.outbox_path
    if not path.exists():
        console.print(f"no outbox at {path} (nothing was ever collected with this data dir)")
        raise typer.Exit(code=0)
    return Outbox(path, max_bytes=settings.outbox_max_bytes)


@app.command()
def status() -> None:
    """Show counts by status, bytes held and the age of the oldest pending datapoint."""
    settings = Settings()
    console = Console()
    outbox = _open(settings, console)
    try:
        console.print(_table(outbox.stats(), str(settings.outbox_path)))
    finally:
        outbox.close()


@app.command()
def drain(
    wait: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Also wait for retries that fall due within this many seconds of the start.",
        ),
    ] = 0.0,
    retry_failed: Annotated[
        bool, typer.Option(help="Make failed datapoints pending again before draining.")
    ] = False,
) -> None:
    """Deliver every datapoint due now, then exit; non-zero when some were refused or are left."""
    from winnow.platform.clients import build_platform_client

    settings = Settings()
    console = Console()
    outbox = _open(settings, console)
    platform: Platform | None = None
    try:
        if settings.platform_url is None:
            from winnow.platform.service import Platform

            platform = Platform.open(settings)
        client = build_platform_client(settings, platform)
        if retry_failed:
            console.print(f"{outbox.retry_failed()} failed datapoints made pending again")
        before = outbox.stats()
        total = before.counts[EntryStatus.PENDING] + before.counts[EntryStatus.DELIVERING]
        outcome = {"delivered": 0, "failed": 0}
        columns = (
            TextColumn("delivering"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("drain", total=total)

            def done(entry: Entry, delivered: bool) -> None:
                outcome["delivered" if delivered else "failed"] += 1
                progress.advance(task)

            worker = DeliveryWorker(
                outbox,
                client,
                metrics=Metrics(),
                backoff_base=settings.delivery_backoff_base,
                backoff_max=settings.delivery_backoff_max,
                concurrency=settings.delivery_concurrency,
                batch_size=settings.delivery_batch_size,
                on_done=done,
            )
            worker.run(burst=True, horizon=wait)
        client.close()
        after = outbox.stats()
        left = after.counts[EntryStatus.PENDING]
        console.print(
            f"delivered {outcome['delivered']}, refused by the platform {outcome['failed']}, "
            f"still pending {left}"
        )
        console.print(_table(after, str(settings.outbox_path)))
        if left or outcome["failed"]:
            raise typer.Exit(code=1)
    finally:
        outbox.close()
        if platform is not None:
            platform.close()


@app.command("purge-failed")
def purge_failed() -> None:
    """Delete the datapoints the platform refused for good, freeing their bytes."""
    settings = Settings()
    console = Console()
    outbox = _open(settings, console)
    try:
        console.print(f"{outbox.purge_failed()} failed datapoints deleted")
    finally:
        outbox.close()

"""``winnow serve``: run the HTTP server (inference, platform, or both) under uvicorn.

Roles all and inference run as a small node under a supervisor (this
process): the serving process(es) on one listening socket, each sampling
and taking credits itself and writing captures to the node's one outbox,
and ONE collection process (:mod:`winnow.cli.collect`, at
``collection_nice``) that prepares and delivers that outbox; in role all it
writes to the embedded platform's database, which the supervisor migrates
before either starts. ``--workers N`` (role inference; default the number
of cores) runs N serving processes. Limits left at ``memory://`` become the
one-host ``local://`` file of the data dir, shared by the node's processes.
The supervisor restarts a child that dies and stops them all on
SIGTERM/SIGINT; ``/metrics`` of any serving process shows the whole node's
counts (prometheus_client multiprocess mode). Role platform, ``memory://``
limits set on purpose, or ``WINNOW_COLLECTION_PROCESS=false`` run one
process that prepares and delivers in its own threads (:func:`plan_collection`).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from winnow.errors import ConfigurationError
from winnow.settings import Role, Settings

console = Console(stderr=True, soft_wrap=True)
_SPAWN = multiprocessing.get_context("spawn")


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
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Serving processes (role inference; default: the number of cores).",
        ),
    ] = None,
) -> None:
    """Serve predictions and collect the images worth labeling."""
    import uvicorn

    from winnow.app import StartupInfo, create_app, preflight
    from winnow.http.heap import settle_heap
    from winnow.http.protocols import protocol_class

    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "role": role,
        "platform_url": platform_url,
        "limits_url": limits_url,
        "workers": workers,
    }
    settings = build_settings(**flags)
    count, shared_limits = plan_workers(settings)
    apart, shared_limits = plan_collection(settings, count, shared_limits)
    flags["limits_url"] = shared_limits or settings.limits_url
    flags["workers"] = count
    flags["collection_process"] = apart
    settings = build_settings(**flags)

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
        settle_heap()  # services are up: freeze the start-up heap, raise the gc thresholds

    preflight(settings)  # a ConfigurationError: one line and exit 2 (winnow.cli.main)
    if apart:
        supervise(settings, flags, count)
        return
    app = create_app(settings, on_started=announce)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(settings),
        loop="auto",  # uvloop (a dependency) when importable
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def plan_workers(settings: Settings) -> tuple[int, str | None]:
    """How many serving processes, and the shared limits URL to give them (None: as set).

    Roles all and platform run one (their platform writes one SQLite database
    and runs the orphan sweep; N processes would contend for both), and
    ``--workers`` above 1 is refused for them. Role inference: ``workers`` or
    the number of cores. N > 1 needs limits shared by the processes: the
    ``limits_url`` set (``local://`` or Redis), or, when it was left at
    ``memory://``, the one-host ``local`` backend in the data dir; ``memory://``
    set on purpose with N > 1 is a ConfigurationError (the default is then 1).
    """
    explicit = settings.workers
    if settings.role is not Role.INFERENCE:
        if explicit is not None and explicit > 1:
            raise ConfigurationError(
                f"--workers {explicit}: role {settings.role.value} serves from one process "
                "(its platform's SQLite database and sweeper); run role inference with "
                "--workers in front of it"
            )
        return 1, None
    count = explicit or os.cpu_count() or 1
    shared = _shared(settings) if count > 1 else None
    if count > 1 and shared is None and not _limits_shared(settings.limits_url):
        if explicit is None:
            return 1, None
        raise ConfigurationError(
            f"--workers {count} needs limits shared by the serving processes: set "
            "WINNOW_LIMITS_URL (or --limits-url) to local:// (one host) or redis://host:port/db, "
            f"not {settings.limits_url}"
        )
    return count, shared


def plan_collection(settings: Settings, count: int, shared: str | None) -> tuple[bool, str | None]:
    """Whether a collection process of its own prepares and delivers (and the limits URL).

    Role platform collects nothing: False. ``collection_process`` set on purpose
    (``WINNOW_COLLECTION_PROCESS``) is obeyed, except that N > 1 serving
    processes always share one. Otherwise roles all and inference get one
    (preparation, delivery and, in role all, the platform's writes then stay off
    the serving process's GIL) whenever the limits can be shared with it: the
    ``limits_url`` set, or ``memory://`` left as the default, which becomes the
    one-host ``local://`` file of the data dir (the collection process gives back
    the credits of duplicates and full batches through it). ``memory://`` set on
    purpose keeps collection in the serving process.
    """
    if settings.role is Role.PLATFORM:
        return False, None
    if count > 1:
        return True, shared
    if "collection_process" in settings.model_fields_set and not settings.collection_process:
        return False, None
    if _limits_shared(settings.limits_url):
        return True, None
    local = _shared(settings)
    if local is None:
        return False, None
    return True, local


def _limits_shared(url: str) -> bool:
    return not url.lower().startswith("memory:")


def _shared(settings: Settings) -> str | None:
    """The one-host ``local`` limits URL (``<data_dir>/limits.db``, an absolute path every
    process of the node opens) when the limits were left at memory:// and it exists."""
    if "limits_url" in settings.model_fields_set or _limits_shared(settings.limits_url):
        return None
    from winnow.activelearning.limits import LOCAL_FILE_NAME, from_url

    url = f"local://{(settings.data_dir / LOCAL_FILE_NAME).resolve()}"
    try:
        from_url(url).close()
    except ConfigurationError:
        return None
    return url


class _Child:
    """A spawned child process (a worker or the collection process), restarted when it dies."""

    def __init__(self, name: str, target: Any, args: tuple[Any, ...]) -> None:
        self.name, self.target, self.args = name, target, args
        self.process = self._start()

    def _start(self) -> Any:
        process = _SPAWN.Process(target=self.target, args=self.args, name=self.name, daemon=False)
        process.start()
        return process

    def check(self) -> None:
        """Restart the process when it exited."""
        if not self.process.is_alive():
            console.print(f"{self.name} (pid {self.process.pid}) exited; restarting it")
            self.process = self._start()

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)


def supervise(settings: Settings, flags: dict[str, Any], count: int) -> None:
    """Bind the socket, start ``count`` workers and the collection process; watch them."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    # One metrics folder for the node's processes (prometheus_client multiprocess mode):
    # /metrics of any worker shows every worker's and the collection process's counts.
    metrics_dir = _metrics_dir(settings)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    console.print(f"winnow (role {settings.role.value}): data in [bold]{settings.data_dir}[/bold]")
    if settings.role is Role.ALL:
        _open_platform(settings)
    me = os.getpid()
    children = [_Child(f"worker-{i}", _worker_target, (flags, sock, me)) for i in range(count)]
    children.append(_Child("collection", _collect_target, (flags, me)))
    serving = "one serving process" if count == 1 else f"{count} serving processes"
    console.print(
        f"listening on [bold]http://{settings.host}:{settings.port}[/bold] "
        f"with {serving} and one collection process"
    )
    try:
        while not stopping:
            time.sleep(0.5)
            for child in children:
                if not stopping:
                    child.check()
    finally:
        for child in children:
            if child.process.is_alive():
                child.process.terminate()
        for child in children:
            child.stop()
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(settings: Settings) -> Path:
    """A fresh folder for the node's metric files: in shared memory (``/dev/shm``) when the
    host has it, so counting a request never writes to (or waits on) the disk that the
    outbox keeps busy; else ``<data_dir>/metrics-<port>``."""
    shm = Path("/dev/shm")  # noqa: S108 (mkdtemp: a new folder of mode 0700)
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix=f"winnow-metrics-{settings.port}-", dir=shm))
    folder = settings.data_dir / f"metrics-{settings.port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _open_platform(settings: Settings) -> None:
    """Migrate (and bootstrap) the embedded platform's database once, before the serving
    and collection processes that share it start; announce a created API key."""
    from winnow.platform.service import Platform

    platform = Platform.open(settings)
    try:
        if platform.bootstrap_key:
            console.print(
                f"created workspace 'default'; API key: [bold]{platform.bootstrap_key}[/bold] "
                f"(saved in {settings.data_dir / 'api-key'})"
            )
    finally:
        platform.close()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this child when the supervisor dies, even by ``kill -9`` (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM still stops it
        return
    if os.getppid() != parent:  # the supervisor died before the prctl
        os._exit(1)


def _worker_target(flags: dict[str, Any], sock: socket.socket, parent: int) -> None:
    """One serving process: the app on the supervisor's socket."""
    _die_with_parent(parent)
    import uvicorn

    from winnow.app import create_app
    from winnow.http.heap import settle_heap
    from winnow.http.protocols import protocol_class

    settings = build_settings(**flags)
    config = uvicorn.Config(
        # Services up: freeze the start-up heap, raise the gc thresholds (as one process does).
        create_app(settings, on_started=lambda _info: settle_heap()),
        http=protocol_class(settings),
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _collect_target(flags: dict[str, Any], parent: int) -> None:
    _die_with_parent(parent)
    from winnow.cli.collect import collect_main

    collect_main(flags)

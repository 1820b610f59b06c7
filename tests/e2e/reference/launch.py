"""How the reference server's HTTP app (``app.py`` beside this file) is started.

Shared by the end-to-end tests and ``bench/bench_versus.py``: the working
directory it needs, its environment, and the command line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent


def prepare_workdir(work: Path) -> None:
    """Make the empty folders of its docker image's working directory the app mounts."""
    for folder in ("static", "_next/static"):
        (work / "inference" / "landing" / "out" / folder).mkdir(parents=True, exist_ok=True)


def reference_env(
    api_base_url: str, work: Path, box_projects: Iterable[str] = ()
) -> dict[str, str]:
    """The environment: its platform at ``api_base_url``, active learning on, nothing online."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "PYTHONPATH": str(APP_DIR),
        "API_BASE_URL": api_base_url,
        "ACTIVE_LEARNING_ENABLED": "true",
        "MODEL_CACHE_DIR": str(work / "model-cache"),
        "ENABLE_STREAM_API": "false",
        "ALLOW_CUSTOM_PYTHON_EXECUTION_IN_WORKFLOWS": "false",
        "DISABLE_VERSION_CHECK": "true",
        "HF_HUB_OFFLINE": "1",
        "REF_HARNESS_BOX_PROJECTS": ",".join(box_projects),
    }


def reference_command(python: Path | str) -> list[str]:
    """The command line, without ``--port``: uvicorn serving ``app:app`` on 127.0.0.1."""
    return [str(python), "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]

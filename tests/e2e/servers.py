"""Real ``winnow serve`` subprocesses on free ports, and the inference-sdk virtualenv.

The inference-sdk client pins numpy/Pillow/opencv versions that conflict with
the server's, so it lives in its own virtualenv under ``.cache/sdk-venv``
(repo-local, gitignored), created on first use. Client scripts run there
and print JSON on their last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import free_port
from tests.services import in_ci

REPO = Path(__file__).resolve().parents[2]
SDK_VENV = REPO / ".cache" / "sdk-venv"
SDK_PIN = "inference-sdk==1.8.3"


def sdk_python() -> Path:
    """The virtualenv's python with the pinned inference-sdk, creating it when missing.

    Skips the test when the venv cannot be made (no network on a laptop);
    under CI=true that is a failure instead.
    """
    python = SDK_VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import inference_sdk, importlib.metadata as m; print(m.version('inference-sdk'))",
    ]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True, timeout=120)
        if done.returncode == 0 and done.stdout.strip() == SDK_PIN.split("==")[1]:
            return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", SDK_PIN],
            check=True,
            timeout=600,
            capture_output=True,
        )
        subprocess.run(check, check=True, timeout=120, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        message = f"cannot create the inference-sdk virtualenv at {SDK_VENV}: {exc}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return python


@dataclass
class Server:
    """A running ``winnow serve`` process."""

    url: str
    api_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def client(self) -> httpx.Client:
        """An httpx client on the server with the API key as Bearer."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30
        )


@contextmanager
def winnow_serve(
    data_dir: Path,
    *,
    api_key: str,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Server]:
    """Start ``winnow serve`` on a free port; wait for /healthz; stop it (SIGTERM) afterwards."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"serve-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WINNOW_")}
    full_env.update({"WINNOW_API_KEY": api_key, "WINNOW_LOG_LEVEL": "WARNING"})
    full_env.update(env or {})
    command = [
        sys.executable,
        "-c",
        "from winnow.cli.main import main; main()",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    server = Server(f"http://127.0.0.1:{port}", api_key, data_dir, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"winnow serve exited early:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"winnow serve did not come up:\n{server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        stop_process(process, grace=20)


def stop_process(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds; reaps it."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def run_sdk(python: Path, script: str, **values: Any) -> Any:
    """Run ``script`` in the SDK venv with ``values`` as JSON in ``ARGS``; parse its last line."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "ARGS": json.dumps(values),
    }
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    if done.returncode != 0:
        raise AssertionError(f"sdk script failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])

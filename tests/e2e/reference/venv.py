"""The reference inference server's virtualenv (``.cache/ref-venv``), made once and re-used.

The reference server (PyPI ``inference-core`` 1.8.3 with its ``http`` extra,
plus ``onnxruntime`` from its ``cpu`` extra) pins numpy, opencv, pydantic and
fastapi versions that conflict with winnow's, so it lives in its own
virtualenv. Its HTTP app imports torch and torchvision at start-up (through
its workflows package); PyPI's torchvision needs PyPI's CUDA build of torch,
so the venv carries the CUDA libraries although nothing here uses a GPU.

Every other package is pinned by ``constraints.txt`` beside this file (the
versions this test passed with), so a new release of one of the reference's
~230 dependencies cannot break the test, and pip does not backtrack.

A stamp file written after a successful install and import check marks the
venv complete; a venv without it (an interrupted install) or with other pins
is made again. ``WINNOW_TEST_REF_VENV`` moves it out of the work tree (CI
works in fresh clones; a venv kept elsewhere on the machine is re-used).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services import in_ci

REPO = Path(__file__).resolve().parents[3]
REF_VENV = Path(os.environ.get("WINNOW_TEST_REF_VENV") or REPO / ".cache" / "ref-venv")
REQUIREMENTS = ("inference-core[http]==1.8.3", "onnxruntime>=1.15.1,<1.22.0")
CONSTRAINTS = Path(__file__).resolve().parent / "constraints.txt"
STAMP = REF_VENV / ".winnow-complete"
INSTALL_TIMEOUT = 1200
CHECK = "import inference.core.version as v, uvicorn; print(v.__version__)"


def reference_python() -> Path:
    """The venv's python, creating the venv when missing or incomplete.

    Skips the test when it cannot be made (no network on a laptop); under
    CI=true that is a failure instead.
    """
    python = REF_VENV / "bin" / "python"
    wanted = "\n".join((*REQUIREMENTS, CONSTRAINTS.read_text()))
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python
    started = time.monotonic()
    try:
        shutil.rmtree(REF_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *REQUIREMENTS, "-c", str(CONSTRAINTS)],
            check=True,
            timeout=INSTALL_TIMEOUT,
            capture_output=True,
        )
        done = subprocess.run(
            [str(python), "-c", CHECK], check=True, timeout=300, capture_output=True, text=True
        )
        if done.stdout.strip() != "1.8.3":
            raise RuntimeError(f"expected inference 1.8.3, the venv has {done.stdout.strip()!r}")
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", None) or ""
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        message = (
            f"cannot create the reference inference server's virtualenv at {REF_VENV}: "
            f"{exc}\n{detail[-2000:]}"
        )
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    STAMP.write_text(wanted)
    print(f"reference venv made in {time.monotonic() - started:.0f} s")  # shown with -s / -rA
    return python

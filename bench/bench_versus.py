"""Side by side on this machine: the ceiling app, the reference inference server and winnow.

The same load generator (``wrk``, one thread, keep-alive connections, closed
loop; a C client, so the two cores go to the servers rather than to a Python
load generator) drives ``POST /infer/object_detection`` of each server with
64 distinct 640x480 JPEGs (base64 in the v1 JSON body), stub model
``<project>/0``. Servers and scenarios alternate within every pass, so load
from elsewhere falls on all of them alike; the ratios are taken within one
pass and reported with their spread over the passes.

Servers, all started once and kept for every pass:

- ``ceiling``: ``bench/ceiling_app.py``, a bare FastAPI app doing only what a
  stub answer needs (JSON parse, base64 decode, JPEG header);
- ``reference``: the unmodified reference server (``inference-core`` 1.8.3 in
  the venv the e2e tests build, ``tests/e2e/reference``), its platform a
  ``winnow serve --role platform`` process (skipped when the venv is absent);
- ``winnow``: ``winnow serve`` (role all: SQLite, local blobs, the embedded
  platform; one serving process and the niced collection process under the supervisor).

Idle RSS is reported for the largest process of each server's process tree and for
the whole tree. Every cell also says where the two cores went while it ran: cores
used by the server's process tree (its collection process included) and by ``wrk``,
and the fraction of the machine left idle or waiting on the disk (a cell with no idle CPU is bound by the
box, not by the server's waiting).

Projects ``off`` (collection disabled), ``r10`` and ``r100`` (one random
strategy at 10% and 100%, no limits). Figures: req/s at concurrency 8 and 1,
p50/p99, the p50 cost of 10% collection, req/s at 100% over off (and over off sent the
same distinct bodies as the 100% cell: wrk costs more with many bodies), datapoints
sampled / stored / dropped at 100% (stored counted on the platform after the
outbox drained) and stored per second (stored over the time from the first
100% request to the last image stored: a lower bound of the collection
capacity, since the passes interleave other cells), idle RSS. With a detector
(YOLOv8n from the ``nudenet`` wheel, as ``bench_models``), winnow's req/s at
concurrency 8 over a bare loop that decodes each image in full and runs the
same ONNX runner (onnxruntime, NMS) in one process on the same images, for
640x480 and 1920x1080 JPEGs, measured in every pass right after winnow's cells.

    .venv/bin/python bench/bench_versus.py [--seconds 5] [--passes 3] [--no-reference]
        [--no-detector] [--workers N]

``--workers N`` (default 1): with N > 1 winnow runs as ``winnow serve --role inference
--workers N`` (N serving processes, one collection process) in front of a
``winnow serve --role platform`` process, as the reference does.

Needs ``wrk`` (Debian package ``wrk``). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from winnow.images import encode_jpeg

REPO = Path(__file__).resolve().parents[1]
# The bench shares the e2e tests' process helpers and reference-server launch recipe.
sys.path.insert(0, str(REPO))
KEY = "bench-key-0123456789"
REF_VENV = Path(
    os.environ.get("WINNOW_TEST_REF_VENV") or Path.home() / ".cache" / "winnow" / "ref-venv"
)
PROJECTS = {"off": None, "r10": 0.1, "r100": 1.0}
IMAGES = 64
HD_IMAGES = 16  # 1920x1080 JPEGs for the detector's second cell
# 100% collection stores every distinct image once (an exact duplicate is refused), so that
# scenario sends images never sent before: enough for every request of every pass.
DISTINCT_PER_SECOND = 1500  # 100% collection requests per second of a cell that stay distinct

WRK_SCRIPT = """
local requests = {}
local counter = 0
init = function(args)
  counter = tonumber(args[1] or "0")
  -- Every request is built once, here: one per body. A request built per call (wrk.format)
  -- is a new string of 150 KB that LuaJIT interns, comparing it with the strings of the same
  -- length and sampled hash: with thousands of distinct bodies that made wrk itself the
  -- bottleneck (about 0.5 ms of its CPU a request, against 0.07 ms with 64 bodies).
  local headers = {["Content-Type"] = "application/json"}
  for i = 1, %(count)d do
    local f = assert(io.open("%(folder)s/body" .. i .. ".json", "rb"))
    requests[i] = wrk.format("POST", "/infer/object_detection", headers, f:read("*a"))
    f:close()
  end
end
request = function()
  counter = counter + 1
  return requests[(counter %% %(count)d) + 1]
end
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"mean_us\\": %%.1f, \\"non2xx\\": %%d, \\"socket_errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _jpegs(count: int, width: int = 640, height: int = 480) -> list[bytes]:
    """Distinct JPEGs of realistic size (a gradient with noise, q90)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=-1
    )
    out = []
    for seed in range(count):
        noise = np.random.default_rng(seed).integers(0, 24, (height, width, 3))
        out.append(encode_jpeg(np.clip(base + noise, 0, 255).astype(np.uint8), 90))
    return out


def _al_config(percentage: float | None, project: str) -> dict[str, Any]:
    if percentage is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [
            {"name": "rnd", "type": "random", "traffic_percentage": percentage}
        ],
        "batching_strategy": {"batches_name_prefix": project, "recreation_interval": "never"},
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 on, 0-based here);
    OSError when the process is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a supervisor's serving and collection processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _tree_rss(pid: int) -> dict[str, float]:
    """Idle RSS of the largest process of the tree and of the whole tree, in MB."""
    sizes = [_rss_mb(p) for p in _tree(pid)]
    return {"largest_process": max(sizes), "all_processes": round(sum(sizes), 1)}


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the live processes of ``pid``'s tree have used."""
    total = 0
    for member in _tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(idle + iowait ticks, all ticks) of every CPU so far, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return values[3] + values[4], sum(values)


@contextmanager
def _cpu_use(pid: int) -> Iterator[dict[str, float]]:
    """Where the CPU went while the block ran: cores used by ``pid``'s process tree and by
    this process's children (the load generator), and the machine's idle fraction."""
    out: dict[str, float] = {}
    tree, children = _tree_cpu_seconds(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    idle, ticks = _machine_ticks()
    started = time.monotonic()
    yield out
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    idle_after, ticks_after = _machine_ticks()
    load = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    out["server_cores"] = round((_tree_cpu_seconds(pid) - tree) / elapsed, 2)
    out["load_generator_cores"] = round(load / elapsed, 2)
    out["machine_idle"] = round((idle_after - idle) / max(1, ticks_after - ticks), 3)


@dataclass
class Server:
    """A started server: its name, base URL, process and the platform URL its data lands on."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    platform: str | None = None


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path, path: str) -> None:
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + path, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


@contextmanager
def _start(
    name: str, command: list[str], tmp: Path, env: dict[str, str], cwd: Path, path: str
) -> Iterator[Server]:
    from tests.e2e.servers import stop_process

    port = _free_port()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, process, log, path)
        yield Server(name, url, process)
    finally:
        stop_process(process)


def _winnow(tmp: Path, name: str, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINNOW_")}
    env.update({"WINNOW_API_KEY": KEY, "WINNOW_LOG_LEVEL": "WARNING"})
    command = [sys.executable, "-c", "from winnow.cli.main import main; main()", "serve"]
    command += ["--data-dir", str(tmp / f"data-{name}"), *args]
    return _start(name, command, tmp, env, tmp, "/healthz")


def _reference(tmp: Path, platform: str) -> Any:
    # The launch recipe the end-to-end tests use (tests/e2e/reference/launch.py).
    from tests.e2e.reference.launch import prepare_workdir, reference_command, reference_env

    work = tmp / "reference"
    prepare_workdir(work)
    command = reference_command(REF_VENV / "bin" / "python")
    return _start("reference", command, tmp, reference_env(platform, work), work, "/info")


def _ceiling(tmp: Path) -> Any:
    command = [sys.executable, "-m", "uvicorn", "ceiling_app:app", "--app-dir", str(REPO / "bench")]
    command += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
    return _start("ceiling", command, tmp, dict(os.environ), tmp, "/docs")


def _setup_projects(platform: str, models: dict[str, Path | None]) -> None:
    with httpx.Client(
        base_url=platform, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as http:
        for project, percentage in PROJECTS.items():
            http.post("/v1/projects", json={"name": project, "type": "object-detection"})
            saved = http.put(
                f"/v1/projects/{project}/al-config", json=_al_config(percentage, project)
            )
            saved.raise_for_status()
        for model_id, onnx_file in models.items():
            if onnx_file is not None:
                http.post(
                    "/v1/models",
                    data={"model_id": model_id},
                    files={"file": (onnx_file.name, onnx_file.read_bytes())},
                ).raise_for_status()


def _stored(platform: str, project: str) -> int:
    with httpx.Client(
        base_url=platform, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as http:
        response = http.get(f"/v1/projects/{project}/batches")
        response.raise_for_status()
        return sum(int(b["images"]) for b in response.json()["batches"])


def _datapoint_outcomes(url: str, project: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("winnow_datapoints_total{") and f'project="{project}"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def _bodies(tmp: Path, model_id: str, jpegs: list[bytes], tag: str = "") -> Path:
    folder = tmp / "bodies" / (model_id.replace("/", "_") + tag)
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    for i, data in enumerate(jpegs, start=1):
        body = {
            "api_key": KEY,
            "model_id": model_id,
            "image": {"type": "base64", "value": base64.b64encode(data).decode()},
        }
        (folder / f"body{i}.json").write_text(json.dumps(body))
    script = WRK_SCRIPT % {"count": len(jpegs), "folder": folder}
    (folder / "load.lua").write_text(script)
    return folder


def _wrk(
    url: str, folder: Path, concurrency: int, seconds: float, offset: int = 0
) -> dict[str, Any]:
    """One closed-loop run; bodies are sent in turn starting after the first ``offset``."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    command += ["-s", str(folder / "load.lua"), url, "--", str(offset)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line.removeprefix("WRK_JSON "))
            return {
                "requests": raw["requests"],
                "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
                "p50_ms": round(raw["p50_us"] / 1000, 2),
                "p99_ms": round(raw["p99_us"] / 1000, 2),
                "mean_ms": round(raw["mean_us"] / 1000, 2),
                "errors": raw["non2xx"] + raw["socket_errors"],
            }
    raise SystemExit(f"wrk printed no result: {result.stdout}\n{result.stderr}")


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def _bare_loop_rps(model: Any, jpegs: list[bytes], seconds: float) -> float:
    """Images/s of a full decode + the same ONNX runner (preprocess, onnxruntime, NMS) in one
    loop of this process."""
    from winnow.images import decode_image
    from winnow.models.base import InferenceParams

    params = InferenceParams()
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        image = decode_image(jpegs[count % len(jpegs)], max_pixels=100_000_000)
        model.infer([image], params)
        count += 1
    return count / (time.perf_counter() - started)


def _wait_stored(
    platform: str, project: str, expected: int, timeout: float = 180
) -> tuple[int, float]:
    """Images stored in ``project`` once the count stops growing (or reaches ``expected``),
    and the monotonic time it was last seen growing."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = _stored(platform, project)
        if now >= expected:
            return now, time.monotonic()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 10:
            return now, stable_since
        time.sleep(0.5)
    return last, stable_since


def main() -> None:
    """Run every server and scenario, alternating, and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell and pass")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--no-detector", action="store_true")
    parser.add_argument(
        "--distinct",
        type=int,
        default=None,
        help="distinct images for 100%% collection (default: 800 per second of the r100 cells)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="winnow serve --workers N (serving processes)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_versus needs wrk: apt-get install wrk")
    with_reference = not args.no_reference and (REF_VENV / "bin" / "python").exists()
    jpegs = _jpegs(IMAGES)
    if args.distinct is None:
        args.distinct = max(2000, round(DISTINCT_PER_SECOND * args.seconds * args.passes))
    distinct = _jpegs(args.distinct)
    hd = _jpegs(HD_IMAGES, 1920, 1080)
    sys.path.insert(0, str(REPO / "bench"))
    from bench_models import detector_file

    detector = None if args.no_detector else detector_file()
    models: dict[str, Path | None] = {f"{p}/0": None for p in PROJECTS}
    if detector is not None:
        models["off/1"] = detector
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        servers: dict[str, Server] = {}
        ceiling = stack.enter_context(_ceiling(tmp))
        servers["ceiling"] = ceiling
        if with_reference:
            ref_platform = stack.enter_context(_winnow(tmp, "ref-platform", "--role", "platform"))
            _setup_projects(ref_platform.url, {})
            reference = stack.enter_context(_reference(tmp, ref_platform.url))
            reference.platform = ref_platform.url
            servers["reference"] = reference
        if args.workers == 1:
            winnow = stack.enter_context(_winnow(tmp, "winnow"))
            winnow.platform = winnow.url
            _setup_projects(winnow.url, models)
        else:  # several serving processes: role inference, in front of a platform process
            win_platform = stack.enter_context(_winnow(tmp, "win-platform", "--role", "platform"))
            _setup_projects(win_platform.url, models)
            winnow = stack.enter_context(
                _winnow(
                    tmp,
                    "winnow",
                    "--role",
                    "inference",
                    "--platform-url",
                    win_platform.url,
                    "--workers",
                    str(args.workers),
                )
            )
            winnow.platform = win_platform.url
        servers["winnow"] = winnow
        idle_rss = {name: _tree_rss(s.process.pid) for name, s in servers.items()}

        for model_id in models:
            _bodies(tmp, model_id, distinct if model_id == "r100/0" else jpegs)
        # Collection off under the very load of the 100% cell (its distinct bodies): the
        # load generator's own cost grows with the bodies it cycles through.
        _bodies(tmp, "off/0", distinct, "-distinct")
        if detector is not None:
            _bodies(tmp, "off/1", hd, "-1080p")
            _wrk(winnow.url, _bodies(tmp, "off/1", jpegs), 2, 1)
        # Warm up every server on every model it will serve (model load, config caches).
        for name, server in servers.items():
            for model_id in ["off/0", "r10/0"] if name != "ceiling" else ["off/0"]:
                _wrk(server.url, _bodies(tmp, model_id, jpegs), 2, 1)

        cells: dict[str, list[dict[str, Any]]] = {}
        bare: dict[str, list[float]] = {}
        bare_model = None
        if detector is not None:
            from winnow.models.onnx.model import load_onnx_model

            bare_model = load_onnx_model("bare/1", detector)
        sampled: dict[str, int] = {}
        sent: dict[str, int] = {}

        first_r100: dict[str, float] = {}

        def run(name: str, model_id: str, concurrency: int, tag: str = "") -> None:
            key = f"{name} {model_id}{tag} c{concurrency}"
            folder = _bodies(tmp, model_id, jpegs, tag)
            offset = sent.get(key, 0) if model_id == "r100/0" else 0
            if model_id == "r100/0":
                first_r100.setdefault(name, time.monotonic())
            with _cpu_use(servers[name].process.pid) as cpu:
                cell = _wrk(servers[name].url, folder, concurrency, args.seconds, offset)
            cell |= cpu
            cells.setdefault(key, []).append(cell)
            sent[key] = offset + cell["requests"] + concurrency
            if model_id == "r100/0":
                sampled[name] = sampled.get(name, 0) + cell["requests"] - cell["errors"]
                if sent[key] > args.distinct:
                    print(f"{name}: more requests than --distinct images", file=sys.stderr)

        for _ in range(args.passes):
            for concurrency in (8, 1):
                for name in servers:
                    run(name, "off/0", concurrency)
            for name in servers:
                if name == "ceiling":
                    continue
                run(name, "r10/0", 8)
                run(name, "off/0", 8, "-distinct")
                run(name, "r100/0", 8)
            if detector is not None:
                run("winnow", "off/1", 8)
                run("winnow", "off/1", 8, "-1080p")
                # The bare loop in every pass, right after the cells it is compared with.
                for size, images in (("640x480", jpegs), ("1920x1080", hd)):
                    bare.setdefault(size, []).append(
                        _bare_loop_rps(bare_model, images, args.seconds)
                    )

        stored: dict[str, int] = {}
        stored_per_s: dict[str, float] = {}
        for name in servers:
            if name == "ceiling":
                continue
            count, last = _wait_stored(servers[name].platform or "", "r100", sampled.get(name, 0))
            stored[name] = count
            span = last - first_r100[name]
            stored_per_s[name] = round(count / span, 1) if span > 0 else 0.0
        outcomes = _datapoint_outcomes(winnow.url, "r100")

    def per_pass(key: str, field: str) -> list[float]:
        return [float(cell[field]) for cell in cells[key]]

    def ratio(a: str, b: str, field: str) -> dict[str, float]:
        return _spread([x / y for x, y in zip(per_pass(a, field), per_pass(b, field), strict=True)])

    ratios: dict[str, Any] = {
        "winnow_over_ceiling_rps_c8": ratio("winnow off/0 c8", "ceiling off/0 c8", "rps"),
        "winnow_p50_10pct_over_off_c8": ratio("winnow r10/0 c8", "winnow off/0 c8", "p50_ms"),
        "winnow_rps_100pct_over_off_c8": ratio("winnow r100/0 c8", "winnow off/0 c8", "rps"),
        "winnow_rps_100pct_over_off_same_bodies_c8": ratio(
            "winnow r100/0 c8", "winnow off/0-distinct c8", "rps"
        ),
        "winnow_p99_over_p50_100pct_c8": _spread(
            [c["p99_ms"] / c["p50_ms"] for c in cells["winnow r100/0 c8"]]
        ),
    }
    if with_reference:
        ratios |= {
            "winnow_over_reference_rps_c8": ratio("winnow off/0 c8", "reference off/0 c8", "rps"),
            "winnow_over_reference_rps_c1": ratio("winnow off/0 c1", "reference off/0 c1", "rps"),
            "reference_p50_10pct_over_off_c8": ratio(
                "reference r10/0 c8", "reference off/0 c8", "p50_ms"
            ),
            "reference_rps_100pct_over_off_c8": ratio(
                "reference r100/0 c8", "reference off/0 c8", "rps"
            ),
            "reference_rps_100pct_over_off_same_bodies_c8": ratio(
                "reference r100/0 c8", "reference off/0-distinct c8", "rps"
            ),
        }
    if bare:
        for size, key in (("640x480", "winnow off/1 c8"), ("1920x1080", "winnow off/1-1080p c8")):
            rps = per_pass(key, "rps")
            ratios[f"winnow_yolov8n_{size}_over_bare_loop_c8"] = _spread(
                [r / b for r, b in zip(rps, bare[size], strict=True)]
            )
    print(
        json.dumps(
            {
                "bench": "versus",
                "load": f"wrk -t1, closed loop, {IMAGES} distinct 640x480 JPEGs, v1 JSON base64",
                "seconds_per_cell": args.seconds,
                "passes": args.passes,
                "cpu_count": os.cpu_count(),
                "load_average_before_after": [
                    round(load_before[0], 2),
                    round(os.getloadavg()[0], 2),
                ],
                "idle_rss_mb": idle_rss,
                "cells": {
                    key: {
                        "rps": _spread(per_pass(key, "rps")),
                        "p50_ms": _spread(per_pass(key, "p50_ms")),
                        "p99_ms": _spread(per_pass(key, "p99_ms")),
                        "errors": sum(c["errors"] for c in value),
                        # Where the two cores went: the server's processes, wrk, idle.
                        "cpu": {
                            field: _spread(per_pass(key, field))
                            for field in ("server_cores", "load_generator_cores", "machine_idle")
                        },
                    }
                    for key, value in cells.items()
                },
                "ratios": ratios,
                "collection_100pct": {
                    name: {
                        "sampled": sampled.get(name, 0),
                        "stored": count,
                        "stored_per_s": stored_per_s[name],
                    }
                    for name, count in stored.items()
                }
                | {"winnow_outcomes": outcomes},
                "bare_loop_yolov8n_images_per_s": {k: _spread(v) for k, v in bare.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

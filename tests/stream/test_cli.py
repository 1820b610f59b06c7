"""``winnow stream`` end to end in a subprocess: in-process platform, exit 0 on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.stream.media import MJPEGServer, make_video
from tests.stream.onnx_detector import green_box_detector
from winnow.activelearning.outbox import Outbox
from winnow.cli.main import app
from winnow.platform import store
from winnow.platform.service import Platform
from winnow.settings import Settings

KEY = "stream-cli-key-0123456789"
CONFIG = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "all", "type": "random", "traffic_percentage": 1.0}],
    "batching_strategy": {"batches_name_prefix": "cams", "recreation_interval": "never"},
}


def _platform(data_dir: Path) -> None:
    """A data dir whose platform has project ``shapes`` with the detector as version 1."""
    platform = Platform.open(Settings(data_dir=data_dir, api_key=KEY))
    try:
        with platform.db.write() as session:
            ws = store.get_workspace(session=session, name="default")
            project = store.create_project(
                session=session, workspace=ws, name="shapes", type="object-detection"
            )
            store.save_al_config(session=session, project=project, config=CONFIG, created_by="test")
        with platform.db.read() as session:
            ws = store.get_workspace(session=session, name="default")
        platform.add_model(
            workspace=ws, model_id="shapes/1", data=green_box_detector(), class_names=["green-box"]
        )
    finally:
        platform.close()


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from winnow.cli.main import main; main()", "stream", *args]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WINNOW_")}


def _outbox_counts(data_dir: Path) -> dict[str, int]:
    outbox = Outbox(data_dir / "outbox.db", max_bytes=10**9)
    try:
        return {status.value: n for status, n in outbox.stats().counts.items() if n}
    finally:
        outbox.close()


def _outbox_count(data_dir: Path) -> int:
    return sum(_outbox_counts(data_dir).values())


def test_stream_command_collects_a_video_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _platform(data_dir)
    video = make_video(tmp_path / "clip.mp4", 15)
    done = subprocess.run(
        _command(
            "--source", f"gate={video}", "--model", "shapes/1", "--api-key", KEY,
            "--data-dir", str(data_dir), "--no-status",
        ),
        env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "gate ended 15 ok 15 collected" in done.stderr
    # The file ended by itself: the command waited for delivery to the in-process platform.
    assert _outbox_counts(data_dir) == {"delivered": 15}


def test_stream_command_refuses_bad_arguments(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", 2)
    cases = [
        (["--source", str(tmp_path / "missing.mp4")], "not a camera index"),
        (["--source", f"bad id={video}"], "source id"),
        (["--source", str(video), "--model", "no-version"], "invalid model_id"),
    ]
    for extra, message in cases:
        args = ["--model", "shapes/1", "--api-key", KEY, "--data-dir", str(tmp_path / "d")]
        result = CliRunner().invoke(app, ["stream", *args, *extra])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not (tmp_path / "d").exists()


def test_stream_command_reports_a_model_it_cannot_load(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _platform(data_dir)
    video = make_video(tmp_path / "clip.mp4", 2)
    result = CliRunner().invoke(
        app,
        ["stream", "--source", str(video), "--model", "shapes/9", "--api-key", KEY,
         "--data-dir", str(data_dir), "--no-status"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "shapes/9" in result.output


def test_sigterm_stops_a_live_stream_with_everything_in_the_outbox(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _platform(data_dir)
    server = MJPEGServer(fps=20)
    server.start()
    try:
        with subprocess.Popen(
            _command("--source", f"door={server.url}", "--model", "shapes/1", "--api-key", KEY,
                     "--data-dir", str(data_dir), "--no-status", "--metrics-port", "0"),
            env=_env(), stderr=subprocess.PIPE, text=True,
        ) as process:  # fmt: skip
            assert process.stderr is not None
            port = None
            for line in process.stderr:
                match = re.search(r"metrics on http://127.0.0.1:(\d+)/metrics", line)
                if match:
                    port = int(match.group(1))
                    break
            assert port is not None
            deadline = time.monotonic() + 60
            text = ""
            while 'outcome="collected",source="door"' not in text:
                assert time.monotonic() < deadline, text
                time.sleep(0.2)
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            process.send_signal(signal.SIGTERM)
            rest = process.stderr.read()
            assert process.wait(60) == 0, rest
    finally:
        server.stop()
    assert "SIGTERM: stopping" in rest
    match = re.search(r"door ended (\d+) ok .*?(\d+) collected", rest)
    assert match, rest
    collected = int(match.group(2))
    assert collected >= 1
    assert _outbox_count(data_dir) == collected


def test_live_status_line_shows_each_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import threading

    from rich.console import Console

    from tests.stream.doubles import IndexModel, OneModelRegistry, RecordingCollector
    from winnow.cli import stream as stream_cli
    from winnow.stream.runner import StreamRunner
    from winnow.stream.sources import PyAVSource

    out = io.StringIO()
    monkeypatch.setattr(stream_cli, "console", Console(file=out, width=200))
    video = make_video(tmp_path / "clip.mp4", 8)
    runner = StreamRunner(
        [PyAVSource(str(video), source_id="yard", live=False)],
        "proj/1",
        KEY,
        registry=OneModelRegistry(IndexModel()),  # type: ignore[arg-type]
        collector=RecordingCollector(),
    )
    stream_cli.run_until_stopped(runner, show_status=True, stop=threading.Event(), refresh=0.05)
    assert "yard ended 8 ok 8 collected" in out.getvalue()


def test_stream_command_against_a_remote_platform(tmp_path: Path) -> None:
    from tests.e2e.servers import winnow_serve

    platform_dir = tmp_path / "platform"
    _platform(platform_dir)
    video = make_video(tmp_path / "clip.mp4", 12)
    with winnow_serve(platform_dir, api_key=KEY) as server:
        done = subprocess.run(
            _command("--source", f"remote-cam={video}", "--model", "shapes/1", "--api-key", KEY,
                     "--platform-url", server.url, "--data-dir", str(tmp_path / "node"),
                     "--no-status"),
            env=_env(), capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "remote-cam ended 12 ok 12 collected" in done.stderr
        batches = httpx.get(f"{server.url}/default/shapes/batches", params={"api_key": KEY}).json()
    assert _outbox_counts(tmp_path / "node") == {"delivered": 12}
    assert [(b["name"], b["images"]) for b in batches["batches"]] == [("cams", 12)]

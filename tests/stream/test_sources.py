"""Frame sources: files, folders, URLs, cameras, and the command-line spec."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.stream.media import MJPEGServer, frame_image, make_video, read_index
from winnow.errors import StreamSourceError
from winnow.stream.sources import (
    CameraSource,
    ImageFolderSource,
    PyAVSource,
    check_source_id,
    open_source,
    redact_url,
)


def test_video_file_yields_rgb_frames_in_order_with_media_time(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 20, fps=10)
    source = PyAVSource(str(video), source_id="v", live=False)
    source.open()
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    source.close()
    assert [f.index for f in frames] == list(range(20))
    assert [read_index(f.image) for f in frames] == list(range(20))
    assert frames[0].image.shape == (120, 160, 3)
    assert frames[0].image.dtype == np.uint8
    # RGB order: the moving rectangle is drawn green (30, 200, 30).
    pixel = frames[0].image[70, 25]
    assert pixel[1] > 150 and pixel[0] < 80 and pixel[2] < 80
    assert frames[5].timestamp == pytest.approx(0.5, abs=1e-6)
    assert source.native_fps == pytest.approx(10.0)
    assert not source.is_live


def test_read_before_open_and_missing_file_raise(tmp_path: Path) -> None:
    source = PyAVSource(str(tmp_path / "nope.mp4"), source_id="v", live=False)
    with pytest.raises(StreamSourceError, match="before open"):
        source.read()
    with pytest.raises(StreamSourceError, match="cannot open"):
        source.open()


def test_image_folder_is_read_in_name_order_skipping_unreadable_files(tmp_path: Path) -> None:
    for index, name in [(3, "b.png"), (1, "a.jpg"), (7, "c.png")]:
        bgr = cv2.cvtColor(frame_image(index), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(tmp_path / name), bgr)
    (tmp_path / "b2.jpg").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(tmp_path, source_id="folder")
    source.open()
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert [read_index(f.image) for f in frames] == [1, 3, 7]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [p.name for p in source.skipped] == ["b2.jpg"]
    with pytest.raises(StreamSourceError, match="not a folder"):
        ImageFolderSource(tmp_path / "missing", source_id="x").open()


def test_mjpeg_url_is_read_live() -> None:
    server = MJPEGServer(fps=50)
    server.start()
    try:
        source = PyAVSource(server.url, source_id="live", live=True, read_timeout=5)
        source.open()
        frames = [source.read() for _ in range(5)]
        source.close()
    finally:
        server.stop()
    indexes = [read_index(f.image) for f in frames if f is not None]
    assert len(indexes) == 5
    assert indexes == sorted(indexes)
    assert source.is_live


def test_url_that_refuses_connections_raises() -> None:
    server = MJPEGServer()
    server.start()
    url = server.url
    server.stop()
    source = PyAVSource(url, source_id="gone", live=True, open_timeout=2, read_timeout=2)
    with pytest.raises(StreamSourceError, match="cannot open"):
        source.open()


def test_missing_camera_raises() -> None:
    with pytest.raises(StreamSourceError, match="cannot open camera 97"):
        CameraSource(97, source_id="cam").open()


def test_source_ids_must_fit_a_tag() -> None:
    assert check_source_id("dock/2:east") == "dock/2:east"
    for bad in ["", "has space", "x" * 58, "é"]:
        with pytest.raises(StreamSourceError, match="source id"):
            check_source_id(bad)


def test_open_source_reads_the_command_line_spec(tmp_path: Path) -> None:
    video = make_video(tmp_path / "front door.mp4", 2)
    folder = tmp_path / "shots"
    folder.mkdir()
    camera = open_source("0")
    assert isinstance(camera, CameraSource)
    assert camera.source_id == "camera0"
    url = open_source("rtsp://10.0.0.5:554/live/main?user=x")
    assert isinstance(url, PyAVSource)
    assert url.is_live
    assert url.source_id == "10.0.0.5:554/live/main"
    named_url = open_source("http://cam.local/video.mjpg", source_id="gate")
    assert named_url.source_id == "gate"
    file_source = open_source(str(video))
    assert isinstance(file_source, PyAVSource)
    assert not file_source.is_live
    assert file_source.source_id == "front-door"
    assert open_source(f"door={video}").source_id == "door"
    folder_source = open_source(str(folder))
    assert isinstance(folder_source, ImageFolderSource)
    assert folder_source.source_id == "shots"
    with pytest.raises(StreamSourceError, match="not a camera index"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(StreamSourceError, match="source id"):
        open_source(f"bad id={video}")


def test_credentials_in_urls_stay_out_of_ids_and_errors() -> None:
    assert redact_url("rtsp://admin:s3cret@10.0.0.5:554/live") == "rtsp://***@10.0.0.5:554/live"
    assert redact_url("http://cam.local/a@b") == "http://cam.local/a@b"
    assert redact_url("/videos/file.mp4") == "/videos/file.mp4"
    server = MJPEGServer()
    server.start()
    port = server.port
    server.stop()
    url = f"http://admin:s3cret@127.0.0.1:{port}/video"
    source = open_source(url)
    assert source.source_id == f"127.0.0.1:{port}/video"
    assert isinstance(source, PyAVSource)
    with pytest.raises(StreamSourceError) as raised:
        source.open()
    assert "s3cret" not in raised.value.message
    assert "***@127.0.0.1" in raised.value.message

"""Test media: videos and images made here, with the frame index readable from the pixels.

The top band of every frame holds the index in binary (8 blocks of 20 pixels,
white = 1), big enough to survive H.264 and JPEG; a rectangle moves below it.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
import simplejpeg

WIDTH, HEIGHT = 160, 120
BITS = 8
BAND = 20


def frame_image(index: int, *, static: bool = False) -> npt.NDArray[Any]:
    """A frame whose index can be read back with :func:`read_index` (``static``: no index, no motion)."""
    image = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
    if static:
        cv2.rectangle(image, (50, 40), (90, 80), (200, 30, 30), -1)
        return image
    for bit in range(BITS):
        if index >> bit & 1:
            image[:BAND, bit * 20 : (bit + 1) * 20] = 255
        else:
            image[:BAND, bit * 20 : (bit + 1) * 20] = 0
    x = 10 + (index * 3) % (WIDTH - 50)
    cv2.rectangle(image, (x, 50), (x + 30, 90), (30, 200, 30), -1)
    return image


def read_index(image: npt.NDArray[Any]) -> int:
    """The index drawn by :func:`frame_image` (RGB image at the original size)."""
    value = 0
    for bit in range(BITS):
        block = image[4 : BAND - 4, bit * 20 + 4 : (bit + 1) * 20 - 4]
        if block.mean() > 128:
            value |= 1 << bit
    return value


def make_video(
    path: Path,
    frames: int,
    *,
    fps: int = 30,
    static: bool = False,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> Path:
    """Write an H.264 MP4 of ``frames`` frames made by :func:`frame_image`."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "18"}
    for i in range(frames):
        image = frame_image(i, static=static)
        if size != (WIDTH, HEIGHT):
            image = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


class MJPEGServer:
    """An HTTP MJPEG (multipart/x-mixed-replace) camera on 127.0.0.1, served from threads.

    ``stop()`` closes the listening socket and every open stream; ``start()``
    serves again on the same port, frame indexes continuing.
    """

    def __init__(self, *, fps: float = 30.0, port: int = 0) -> None:
        self.fps = fps
        self.port = port
        self.sent = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video"

    def _next_index(self) -> int:
        with self._lock:
            value = self.sent
            self.sent += 1
            return value

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while owner._running.is_set():
                        jpeg = simplejpeg.encode_jpeg(
                            frame_image(owner._next_index()), quality=90, colorspace="RGB"
                        )
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                            % len(jpeg)
                            + jpeg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        time.sleep(1 / owner.fps)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._running.set()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

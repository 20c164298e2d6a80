"""predict on a stream served on 127.0.0.1 from a local file: the frames as they come, and a stream
lost half-way says so and keeps what it wrote."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.bundle.made import Made
from tests.conftest import run_cli

FRAMES = 20


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; `cut` bytes into /lost.avi it closes the connection, as a dropped stream."""

    cut = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/lost.avi":
            return super().do_GET()
        data = (Path(self.directory) / "clip.avi").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/x-msvideo")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: self.cut])
        self.wfile.flush()
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client probing and hanging up (a broken pipe) is what streams do


@pytest.fixture(scope="module")
def server(coco_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    # A man standing, whole: a person strong enough to start a track (tests/deploy/test_tracking.py).
    image = cv2.resize(cv2.imread(str(next(p for p in coco_images if p.name == "000000109313.jpg"))), (640, 480))
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for i in range(FRAMES):  # a slow pan: people stay in view
        writer.write(np.roll(image, 3 * i, axis=1))
    writer.release()
    _Handler.cut = (folder / "clip.avi").stat().st_size // 2
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_stream_is_predicted_frame_by_frame(made: Made, server: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), f"{server}/clip.avi", "-o", str(out), "--track")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "predict.json").read_text())
    assert summary["kind"] == "stream" and summary["frames"] == FRAMES and not summary["stream_lost"]
    poses = json.loads((out / "poses.json").read_text())
    assert poses and all(p["track_id"] >= 0 for p in poses)
    assert (out / summary["drawn"][0]).stat().st_size > 0


def test_a_lost_stream_says_so_and_keeps_what_it_wrote(made: Made, server: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), f"{server}/lost.avi", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "the stream was lost (what came is kept)" in result.stdout
    summary = json.loads((out / "predict.json").read_text())
    assert summary["stream_lost"] and 0 < summary["frames"] < FRAMES
    capture = cv2.VideoCapture(str(out / summary["drawn"][0]))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == summary["frames"]

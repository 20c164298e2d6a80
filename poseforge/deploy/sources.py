"""What predict reads: an image, a folder of images, a video, a camera or a stream, frame by frame.

Each frame gets the `image_id` its poses are filed under in poses.json: for images, the number
a file name holds when every name in the input is a distinct number of at most 30 digits (COCO's
000000000139.jpg -> 139), else the image's index in name order (0, 1, ...); for a video, the
frame index (0, 1, ...). A frame that cannot be decoded stops the run with its file name or
frame number, or with `skip_bad` is handed on as None so that it can be counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.documents import MAX_INT_DIGITS
from poseforge.errors import PoseforgeError
from poseforge.images import IMAGE_SUFFIXES, check_frame, image_files, read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
DEFAULT_FPS = 25.0  # when a video does not say
# This many undecodable frames in a row end a video (its header may claim any number of frames
# more): the video ended (a truncated file, or a count that was an estimate), not a few corrupt
# frames to skip.
MAX_BAD_RUN = 50
MAX_CAMERA_INDEX = 9999  # OpenCV takes a C int; a machine's cameras are numbered from 0


@dataclass(frozen=True)
class Frame:
    index: int  # position in the input, 0-based
    image_id: int  # the id its poses get in poses.json
    name: str  # file name, or "frame N" of a video


class ImageSource:
    """One image or the images of a folder (not recursive), in name order."""

    def __init__(self, path: Path, paths: list[Path], kind: str) -> None:
        self.path, self.paths, self.kind, self.name = path, paths, kind, path.name
        self.total: int | None = len(paths)
        ids = image_ids([p.stem for p in paths])
        self.frames_info = [Frame(i, image_id, p.name) for i, (p, image_id) in enumerate(zip(paths, ids, strict=True))]

    def frames(self, skip_bad: bool = False) -> Iterator[tuple[Frame, np.ndarray | None]]:
        for frame, path in zip(self.frames_info, self.paths, strict=True):
            try:
                pixels = read_image(path)
            except PoseforgeError:
                if not skip_bad:
                    raise
                pixels = None
            yield frame, pixels


class VideoSource:
    """The frames of a video file, a camera (its index) or a stream URL, decoded with OpenCV's
    FFmpeg backend. A live source (camera, stream) ends at a read that fails; `ended_early` says
    it ended before the length it announced (a camera announces none): the stream was lost. A file
    ends where no frame decodes any more; `ended_early` says it was before the count its header
    announced (`total`: exact for MP4, an estimate for MKV or MPEG-TS, or the file is truncated)."""

    def __init__(self, location: Path | int | str) -> None:
        self.location = location
        self.live = not isinstance(location, Path)
        self.kind = "video" if isinstance(location, Path) else "camera" if isinstance(location, int) else "stream"
        self.path = location if isinstance(location, Path) else Path(f"{self.kind}-{_safe_name(location)}")
        self.name = location.name if isinstance(location, Path) else str(location)
        self.ended_early = False
        capture = _capture(location, self.kind, self.name)
        try:
            if not capture.isOpened():
                raise PoseforgeError(f"cannot open {self.kind} {self.name}: not a video, unreachable, or a codec "
                                     "OpenCV cannot read")  # fmt: skip
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            fps = capture.get(cv2.CAP_PROP_FPS)
        finally:
            capture.release()
        # A stream of a file knows its length; a camera or a live stream does not (0 or -1).
        self.total = int(count) if math.isfinite(count) and 0 < count < 2**31 else None
        self.fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS

    def frames(self, skip_bad: bool = False) -> Iterator[tuple[Frame, np.ndarray | None]]:
        capture = _capture(self.location, self.kind, self.name)
        try:
            index, bad = 0, []  # bad: the undecodable frames since the last good one
            while True:
                ok, pixels = capture.read()
                if ok:
                    try:
                        check_frame(pixels, f"{self.kind} {self.name} frame {index}")
                    except PoseforgeError:
                        if not skip_bad:
                            raise
                        ok, pixels = False, None
                if ok:  # a frame that decodes: undecodable ones before it were corrupt, not the end
                    if bad and not skip_bad:
                        raise PoseforgeError(f"video {self.name}: cannot decode frame {bad[0]} (of {self.total} it "
                                             "says it has): corrupt; --skip-bad goes on without it")  # fmt: skip
                    for skipped in bad:
                        yield Frame(skipped, skipped, f"frame {skipped}"), None
                    bad = []
                    yield Frame(index, index, f"frame {index}"), pixels
                elif self.live:  # a camera or stream that stops sending: its end, lost if it said it had more
                    self.ended_early = self.total is None or index < self.total
                    return
                else:
                    # The end, unless the file says it has more frames: then look ahead. A frame that
                    # decodes makes these corrupt; none within MAX_BAD_RUN, or none before the count
                    # (for MKV or MPEG-TS an estimate from the duration), ends the video here.
                    if self.total is None or index >= self.total or len(bad) + 1 >= MAX_BAD_RUN:
                        self.ended_early = self.total is not None and (bad[0] if bad else index) < self.total
                        return
                    bad.append(index)
                index += 1
        finally:
            capture.release()


def _capture(location: Path | int | str, kind: str, name: str) -> Any:
    try:
        if isinstance(location, int):
            return cv2.VideoCapture(location)
        # One decoding thread: the network has the cores, and FFmpeg's frame threads cost more CPU
        # per frame than they save in a reader that runs ahead anyway.
        return cv2.VideoCapture(str(location), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
    except (cv2.error, TypeError, ValueError, OverflowError, SystemError) as exc:  # OpenCV's binding refuses it
        reason = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise PoseforgeError(f"cannot open {kind} {name}: {reason}") from None


def _safe_name(location: int | str) -> str:
    """A file-name-safe stem for a camera index or a URL (the drawn video is named after it)."""
    text = str(location).split("://", 1)[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60] or "live"


def image_ids(stems: list[str]) -> list[int]:
    numbers = [_file_number(s) for s in stems]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return numbers  # type: ignore[return-value]
    return list(range(len(stems)))


def _file_number(stem: str) -> int | None:
    """The number a file name is, if poses.json can hold it: a longer one would be written into a file
    that poseforge's readers refuse (documents.MAX_INT_DIGITS)."""
    if not (stem.isascii() and stem.isdigit()):
        return None
    number = int(stem)
    return number if len(str(number)) <= MAX_INT_DIGITS else None


STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def open_source(spec: str | Path) -> ImageSource | VideoSource:
    """An image, a folder of images, a video file, a camera index ("0") or a stream URL."""
    text = str(spec)
    if text.isascii() and text.isdigit() and not Path(text).exists():
        if len(text) > len(str(MAX_CAMERA_INDEX)) or int(text) > MAX_CAMERA_INDEX:
            raise PoseforgeError(f"input {text}: no such file, and not a camera index (0 to {MAX_CAMERA_INDEX})")
        return VideoSource(int(text))
    if text.lower().startswith(STREAM_SCHEMES):
        return VideoSource(text)
    path = Path(spec)
    if path.is_dir():
        paths = image_files(path)
        if not paths:
            raise PoseforgeError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return ImageSource(path, paths, "folder")
    if not path.is_file():
        raise PoseforgeError(f"input not found: {path}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ImageSource(path, [path], "image")
    if suffix in VIDEO_SUFFIXES:
        return VideoSource(path)
    raise PoseforgeError(
        f"{path.name} is neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a video ({', '.join(VIDEO_SUFFIXES)})"
    )

"""What predict reads: one image, a folder of images or a video, frame by frame, read ahead in a thread.

Each frame gets the `image_id` its poses are filed under in poses.json: for images, the number
a file name holds when every name in the input is a distinct number (COCO's
000000000139.jpg -> 139), else the image's index in name order (0, 1, ...); for a video, the
frame index (0, 1, ...). A frame that cannot be decoded stops the run with its file name or
frame number, or with `skip_bad` is handed on as None so that it can be counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.images import IMAGE_SUFFIXES, check_frame, image_files, read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
DEFAULT_FPS = 25.0  # when a video does not say
# This many undecodable frames in a row end a video (its header may claim any number of frames
# more): a truncated file, not a few corrupt frames to skip.
MAX_BAD_RUN = 50


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
    """The frames of a video file, decoded with OpenCV's FFmpeg backend."""

    kind = "video"

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise PoseforgeError(f"cannot open video {path.name}: not a video, or a codec OpenCV cannot read")
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            fps = capture.get(cv2.CAP_PROP_FPS)
        finally:
            capture.release()
        self.total = int(count) if math.isfinite(count) and count > 0 else None
        self.fps = fps if math.isfinite(fps) and fps > 0 else DEFAULT_FPS

    def frames(self, skip_bad: bool = False) -> Iterator[tuple[Frame, np.ndarray | None]]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            index, bad_run = 0, 0
            while True:
                ok, pixels = capture.read()
                if ok:
                    try:
                        check_frame(pixels, f"video {self.name} frame {index}")
                    except PoseforgeError:
                        if not skip_bad:
                            raise
                        ok, pixels = False, None
                if not ok:
                    # The end, unless the video says it has more frames: then this one is
                    # corrupt (later ones may still decode) or the file is truncated.
                    if self.total is None or index >= self.total:
                        return
                    if not skip_bad:
                        raise PoseforgeError(
                            f"video {self.name}: cannot decode frame {index} (of {self.total} it says it has): "
                            "corrupt or truncated; --skip-bad goes on without it"
                        )
                    bad_run += 1
                    if bad_run >= MAX_BAD_RUN:
                        return  # truncated: the frames it claims beyond here are not there
                    pixels = None
                else:
                    bad_run = 0
                yield Frame(index, index, f"frame {index}"), pixels
                index += 1
        finally:
            capture.release()


def image_ids(stems: list[str]) -> list[int]:
    numbers = [int(s) if s.isascii() and s.isdigit() else None for s in stems]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return numbers  # type: ignore[return-value]
    return list(range(len(stems)))


def open_source(path: str | Path) -> ImageSource | VideoSource:
    path = Path(path)
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

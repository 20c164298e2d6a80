"""What predict writes into its output folder: drawn images or a drawn video, and two JSON files.

    poses.json      COCO keypoint results ([{image_id, category_id, keypoints, score, track_id}, ...])
    predict.json    what was run on what: bundle, input, image ids, skipped frames, fps, tracks
    <image names>   each input image with the skeletons drawn, or
    <video stem>.mp4  the video with the skeletons drawn (MPEG-4 Part 2, the codec OpenCV always has)

The folder is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.documents import PREDICT, read_document
from poseforge.errors import PoseforgeError

POSES = "poses.json"
SUMMARY = "predict.json"
SCHEMA = PREDICT.schema
VIDEO_FOURCC = "mp4v"


def read_summary(path: Path) -> dict[str, Any]:
    """An earlier predict.json: what tells poseforge that a folder is its own output to replace."""
    return read_document(path, PREDICT)


class ImageWriter:
    """Each drawn image under its input file name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: list[str] = []

    def write(self, name: str, image: np.ndarray) -> None:
        ok, encoded = cv2.imencode(Path(name).suffix, image)
        if not ok:
            raise PoseforgeError(f"cannot write {name}: OpenCV cannot encode this image format")
        (self.directory / name).write_bytes(encoded.tobytes())  # an OSError (disk full) is not lost
        self.files.append(name)

    def close(self) -> None:
        pass


class VideoWriter:
    """The drawn frames as one video at the input's frame rate, opened at the first frame's size."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.files = [path.name]
        self.writer: Any = None
        self.size: tuple[int, int] = (0, 0)

    def write(self, name: str, image: np.ndarray) -> None:
        if self.writer is None:
            self.size = (image.shape[1], image.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), self.fps, self.size)
            if not self.writer.isOpened():
                raise PoseforgeError(f"cannot write {self.path.name}: OpenCV has no {VIDEO_FOURCC} video encoder")
        if (image.shape[1], image.shape[0]) != self.size:  # a video's frames share one size
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def track_summary(results: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Each track of poses.json's results (people with a track_id >= 0): its id, the image_id of
    the first and last frame it is in (a video's frame indices) and how many frames it is in;
    in id order."""
    tracks: dict[int, dict[str, int]] = {}
    for result in results:
        track, frame = result.get("track_id", -1), result["image_id"]
        if track < 0:
            continue
        if track not in tracks:
            tracks[track] = {"track_id": track, "first_frame": frame, "last_frame": frame, "frames": 0}
        entry = tracks[track]
        entry["first_frame"], entry["last_frame"] = min(entry["first_frame"], frame), max(entry["last_frame"], frame)
        entry["frames"] += 1
    return [tracks[track] for track in sorted(tracks)]

"""Calibration images: any folder of images, pre-processed exactly as the deploy protocol."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file
from poseforge.preprocess import prepare, to_nchw

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def calibration_images(folder: str | Path, subset_size: int | None = None) -> list[Path]:
    """The folder's images in name order (the first `subset_size`), each checked to decode."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PoseforgeError(f"calibration folder not found: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise PoseforgeError(f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    paths = paths[:subset_size] if subset_size else paths
    unreadable = [p.name for p in paths if cv2.imread(str(p), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None]
    if unreadable:
        raise PoseforgeError(
            f"{len(unreadable)} calibration image(s) in {folder} do not decode, e.g. {', '.join(unreadable[:3])}"
        )
    return paths


def fingerprint(paths: list[Path]) -> str:
    """sha256 of the calibration set: every file's name and content, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def deploy_input(path: Path, deploy_shape: tuple[int, int]) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PoseforgeError(f"cannot read calibration image {path}")
    return to_nchw(prepare(image, "deploy", deploy_shape).image)


def calibration_dataset(paths: list[Path], input_name: str, deploy_shape: tuple[int, int]) -> Any:
    """An nncf.Dataset yielding the network's input dict for each image, read lazily."""
    import nncf

    return nncf.Dataset(paths, lambda path: {input_name: deploy_input(path, deploy_shape)})

"""Reading images, bounded: the one reader validation, prediction, calibration and parity use.

An image is refused, by name, when its file is larger than any photo, when it holds more pixels
than MAX_PIXELS, or when one side is more than MAX_ASPECT times the other (a 1 x 4000 strip would
become a network input of absurd width). The size is read from the file's header before anything
is decoded (poseforge.image_headers), so a decompression bomb is refused without being expanded
(OpenCV is told the same limit too, when poseforge is imported before cv2); so is a JPEG cut short,
which OpenCV would decode with its missing rows grey. numpy and cv2 only.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import cv2
import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.image_headers import HeaderError, header_size
from poseforge.limits import MAX_IMAGE_PIXELS as MAX_PIXELS  # OpenCV is given it too (poseforge/__init__.py)

MAX_ASPECT = 16.0
MAX_FILE_BYTES = 256 << 20

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def check_frame(image: object, name: str) -> np.ndarray:
    """`image` if it is a BGR uint8 frame (H x W x 3) within the bounds; else a one-line error."""
    if image is None:
        raise PoseforgeError(f"{name}: got None, not an image (cv2.imread returns None for a file it cannot "
                             "read: poseforge.images.read_image(path), or PoseEstimator given the path, "
                             "says why)")  # fmt: skip
    if not isinstance(image, np.ndarray):
        raise PoseforgeError(f"{name}: expected a BGR image (numpy array H x W x 3), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise PoseforgeError(f"{name}: expected uint8 pixels, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise PoseforgeError(f"{name}: expected H x W x 3 BGR pixels, got shape {image.shape}")
    check_size(image.shape[1], image.shape[0], name)
    return image


def check_size(w: int, h: int, name: str) -> None:
    """A one-line error unless a w x h image is within the bounds (pixels, aspect)."""
    if h < 1 or w < 1:
        raise PoseforgeError(f"{name}: an empty image ({w}x{h})")
    if h * w > MAX_PIXELS:
        raise PoseforgeError(f"{name}: {w}x{h} is more than {MAX_PIXELS} pixels: refused")
    if max(h, w) > MAX_ASPECT * min(h, w):
        raise PoseforgeError(f"{name}: {w}x{h} is more than {MAX_ASPECT:g} times wider than high (or higher than wide)")


def read_image(path: str | Path) -> np.ndarray:
    """The BGR pixels of an image file, checked (`check_frame`): its size from its header before it
    is decoded."""
    path = Path(path)
    data = _image_bytes(path)
    try:
        width, height = header_size(data)
    except HeaderError as exc:
        raise PoseforgeError(f"cannot read image {path.name}: {exc} ({path})") from None
    check_size(width, height, f"image {path.name}")
    try:  # the bytes read and checked above, not the file again (it may have changed since)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV refuses, before decoding, an image above its pixel limit
        raise PoseforgeError(f"cannot read image {path.name}: more than {MAX_PIXELS} pixels ({path})") from None
    if image is None:
        raise PoseforgeError(f"cannot read image {path.name}: unreadable, too large or not an image ({path})")
    return check_frame(image, f"image {path.name}")


def _image_bytes(path: Path) -> bytes:
    """The bytes of an image file: a regular file no larger than any photo, or one line saying why not."""
    try:
        stats = path.stat()
    except OSError:
        raise PoseforgeError(f"cannot read image {path.name}: missing or unreadable ({path})") from None
    if not stat.S_ISREG(stats.st_mode):  # a FIFO would block the reader forever, a device never end
        raise PoseforgeError(f"cannot read image {path.name}: not a regular file ({path})")
    size = stats.st_size
    if size > MAX_FILE_BYTES:
        raise PoseforgeError(f"cannot read image {path.name}: {size} bytes, larger than any photo ({path})")
    try:  # non-blocking, should a FIFO take the file's place after the check
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError:
        data = None
    if data is None or len(data) > MAX_FILE_BYTES:
        raise PoseforgeError(f"cannot read image {path.name}: unreadable, or changed while read ({path})")
    return data


def files_sha256(paths: list[Path]) -> str:
    """sha256 of a set of files (calibration images, say): every file's name and content, in order."""
    from poseforge.fileio import sha256_file

    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def shared_images(candidates: list[Path], used: list[Path]) -> set[Path]:
    """The candidates that are among `used` images: the same file name, or the same bytes under another
    name where a used file is at hand (only files of a size some used file has are hashed)."""
    from poseforge.fileio import sha256_file

    names = {path.name for path in used}
    shared = {path for path in candidates if path.name in names}
    sizes: dict[int, list[Path]] = {}
    for path in used:
        if path.is_file():
            sizes.setdefault(path.stat().st_size, []).append(path)
    digests: dict[int, set[str]] = {}
    for path in candidates:
        size = path.stat().st_size if path not in shared and path.is_file() else None
        if size in sizes:
            known = digests.setdefault(size, {sha256_file(p) for p in sizes[size]})
            if sha256_file(path) in known:
                shared.add(path)
    return shared


def image_files(folder: str | Path) -> list[Path]:
    """The images of a folder (not recursive), in name order."""
    folder = Path(folder)
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as exc:  # a folder this user may not list (permission denied), gone meanwhile
        raise PoseforgeError(f"cannot list the images of {folder}: {exc.strerror or exc}") from None

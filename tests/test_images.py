"""Reading images: the size an image declares is refused before it is decoded (whatever order cv2 and
poseforge were imported in), a JPEG cut short is refused by name, and real photos read as OpenCV reads them."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from poseforge.errors import PoseforgeError
from poseforge.image_headers import header_size
from poseforge.images import read_image

# 8200 x 8200 is more than the 67,108,864 pixels allowed (8192 x 8192); as a 1-bit grey PNG of one
# colour it is 8 KB on disk and 201 MB once decoded to BGR.
SIDE = 8200


def grey_png(path: Path, side: int) -> Path:
    """A valid, complete 1-bit grey PNG of side x side black pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * (1 + (side + 7) // 8) * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


# An application that imports cv2 first, as docs/api.md's examples do: OpenCV has loaded before
# poseforge could tell it the pixel limit.
# Its peak memory is VmHWM, this process's own: ru_maxrss would count the parent's, which exec keeps.
CV2_FIRST = """
import re, sys, time
from pathlib import Path
import cv2
import poseforge
from poseforge.images import read_image
start = time.monotonic()
try:
    read_image(sys.argv[1])
except poseforge.PoseforgeError as exc:
    print(exc)
peak = int(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) << 10
print(time.monotonic() - start, peak)
"""


def test_a_bomb_is_refused_before_decoding_when_cv2_was_imported_first(tmp_path: Path) -> None:
    bomb = grey_png(tmp_path / "bomb.png", SIDE)
    assert bomb.stat().st_size < 64 << 10
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}  # as a fresh shell has it
    result = subprocess.run([sys.executable, "-c", CV2_FIRST, str(bomb)], capture_output=True, text=True, env=env,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    message, figures = result.stdout.strip().splitlines()
    seconds, peak = (float(f) for f in figures.split())
    assert message == f"image bomb.png: {SIDE}x{SIDE} is more than 67108864 pixels: refused"
    assert peak < 150 << 20, (seconds, peak)  # refused from its header: 70 MB here; decoded first: 450 MB, 1 s


def small_images(folder: Path) -> dict[str, Path]:
    """A 64 x 48 photo in every format poseforge reads (JPEG baseline and progressive, WebP lossy and lossless)."""
    image = cv2.resize(np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2), (64, 48))
    params = {
        "baseline.jpg": [],
        "progressive.jpg": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
        "image.png": [],
        "image.bmp": [],
        "image.tif": [],
        "lossy.webp": [cv2.IMWRITE_WEBP_QUALITY, 80],
        "lossless.webp": [cv2.IMWRITE_WEBP_QUALITY, 101],
    }
    for name, extra in params.items():
        assert cv2.imwrite(str(folder / name), image, extra)
    return {name: folder / name for name in params}


def test_each_format_declares_the_size_it_decodes_to(tmp_path: Path) -> None:
    for name, path in small_images(tmp_path).items():
        assert header_size(path.read_bytes()) == (64, 48), name
        assert read_image(path).shape == (48, 64, 3), name


def tiff(order: str, big: bool, width: int, height: int) -> bytes:
    """A TIFF header and first directory declaring width x height (LONG fields, held at the start of
    their value field), classic or BigTIFF."""
    if big:
        head = (b"II+\0" if order == "<" else b"MM\0+") + struct.pack(order + "HHQ", 8, 0, 16)
        entries = [struct.pack(order + "HHQI4x", tag, 4, 1, value) for tag, value in ((256, width), (257, height))]
        return head + struct.pack(order + "Q", 2) + b"".join(entries) + bytes(8)
    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    entries = [struct.pack(order + "HHII", tag, 4, 1, value) for tag, value in ((256, width), (257, height))]
    return head + struct.pack(order + "H", 2) + b"".join(entries) + bytes(4)


def declaring(data: bytes, name: str, width: int, height: int) -> bytes:
    """A real small image's bytes with its header changed to declare width x height."""
    data = bytearray(data)
    if name.endswith(".jpg"):
        sof = data.index(b"\xff\xc0") if b"\xff\xc0" in data else data.index(b"\xff\xc2")
        struct.pack_into(">HH", data, sof + 5, height, width)
    elif name.endswith(".png"):
        struct.pack_into(">II", data, 16, width, height)
    elif name.endswith(".bmp"):
        struct.pack_into("<ii", data, 18, width, -height)  # top-down
    elif name == "lossy.webp":
        struct.pack_into("<HH", data, 26, width, height)
    elif name == "lossless.webp":
        struct.pack_into("<I", data, 21, (width - 1) | (height - 1) << 14 | data[24] >> 4 << 28)
    return bytes(data)


def test_a_size_above_the_limit_is_refused_from_the_header(tmp_path: Path) -> None:
    """Every format's declared size is read (the error gives it), and refused before OpenCV decodes."""
    cases = {name: declaring(path.read_bytes(), name, 9000, 9000) for name, path in small_images(tmp_path).items()
             if name != "image.tif"}  # fmt: skip
    cases |= {f"{order}{'big' if big else ''}.tif": tiff(order, big, 9000, 9000) for order in "<>" for big in (0, 1)}
    cases["strip.png"] = declaring(cases["image.png"], "image.png", 4000, 100)
    for name, data in cases.items():
        path = tmp_path / f"hostile-{name}"
        path.write_bytes(data)
        with pytest.raises(PoseforgeError) as refused:
            read_image(path)
        expected = "4000x100 is more than 16 times wider" if name == "strip.png" else "9000x9000 is more than 67108864"
        assert expected in str(refused.value), (name, str(refused.value))


def with_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    """`jpeg` with an APP1 segment right after SOI holding `thumbnail` (a JPEG of its own: SOI, SOF, SOS, EOI),
    as EXIF carries one."""
    payload = b"Exif\0\0" + thumbnail
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_a_truncated_jpeg_is_refused_by_name(coco_images: list[Path], tmp_path: Path) -> None:
    photo = coco_images[0].read_bytes()
    thumbnail = cv2.imencode(".jpg", np.full((24, 32, 3), 200, np.uint8))[1].tobytes()
    whole = with_thumbnail(photo, thumbnail)
    expected = read_image(coco_images[0])
    for name, data in {"photo.jpg": photo, "thumbnailed.jpg": whole}.items():
        (tmp_path / name).write_bytes(data)
        np.testing.assert_array_equal(read_image(tmp_path / name), expected)  # the photo, not its thumbnail
        (tmp_path / name).write_bytes(data + b"\0" * 100)  # padding after the end: still whole
        np.testing.assert_array_equal(read_image(tmp_path / name), expected)
        cut = tmp_path / f"half-{name}"
        cut.write_bytes(data[: len(data) // 2])  # the thumbnail's EOI is still there, before the photo's scan
        with pytest.raises(PoseforgeError, match=f"cannot read image half-{name}: a truncated JPEG: its image data "
                                                 r"has no end \(no EOI marker\)"):  # fmt: skip
            read_image(cut)


def test_real_photos_read_as_opencv_reads_them(coco_images: list[Path]) -> None:
    for path in coco_images:
        image = read_image(path)
        np.testing.assert_array_equal(image, cv2.imread(str(path), cv2.IMREAD_COLOR))
        assert header_size(path.read_bytes()) == (image.shape[1], image.shape[0])

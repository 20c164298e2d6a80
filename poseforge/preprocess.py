"""The pre-processing protocols: how an image becomes a network input.

- `val`: the upstream evaluation's geometry. Height 368, bicubic resize keeping the aspect
  ratio, centre padding with grey 128 to a width that is a multiple of 8 (at least 368).
- `deploy`: the artifact's deploy shape (256x456): letterbox, i.e. the largest bilinear
  resize that fits, centred, grey 128 around it.
- `native`: the frame's own aspect at an input height (the deploy height, 256, unless the user
  picks another: a multiple of 8, artifacts.HEIGHT_RANGE): a bilinear resize to that height,
  padded (centred, grey 128) only up to the next multiple of 8 in width. A 640x480 camera
  becomes 256x344 instead of filling a quarter of 256x456 with grey, as Open Model Zoo's demos
  reshape their network to the frame; at height 368 it becomes 368x496.

All three resize uint8 pixels and give uint8 pixels, as a camera pipeline has them. (Upstream
resized its normalised float image, whose bicubic overshoot falls outside 0..255; rounding and
clipping it instead moves AP within noise and makes every artifact, a bundle that takes u8
frames included, see exactly the same input.)

Both return the padded BGR image (HWC) and the `Geometry` the decoder needs to map the
network's output back to the original image. Only numpy and cv2: prediction uses it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from poseforge.artifacts import DEPLOY_SHAPE, PROTOCOLS, check_height
from poseforge.decode import Geometry
from poseforge.images import check_frame
from poseforge.keypoints import STRIDE

VAL_HEIGHT = 368
# A very wide image under `val` keeps this width (its height then falls below 368): the
# network's input stays bounded whatever the image.
MAX_VAL_WIDTH = 2048
# Likewise under `native`: at the default height a 16:1 image (the widest images.py admits) is 4096 wide;
# at a taller height a wide image keeps this width, so the input stays bounded at any height.
MAX_NATIVE_WIDTH = 4096
PAD_VALUE = 128.0


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray  # H x W x 3 BGR uint8 network input
    geometry: Geometry


def prepare(
    image: np.ndarray, protocol: str, deploy_shape: tuple[int, int] = DEPLOY_SHAPE, input_height: int | None = None
) -> Prepared:
    """Resize and pad a BGR image (H x W x 3, uint8, within poseforge.images' bounds) by `protocol`;
    `native` at `input_height` (default: the deploy height)."""
    check_frame(image, "the image")
    if input_height is not None and protocol != "native":
        raise ValueError(f"an input height is the native protocol's, not {protocol!r}'s")
    if protocol == "val":
        return _prepare_val(image)
    if protocol == "deploy":
        return _prepare_deploy(image, deploy_shape)
    if protocol == "native":
        return _prepare_native(image, deploy_shape[0] if input_height is None else check_height(input_height))
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def _prepare_val(image: np.ndarray) -> Prepared:
    h, w = image.shape[:2]
    scale = min(VAL_HEIGHT / h, MAX_VAL_WIDTH / w)
    resized = cv2.resize(image, (0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)  # rounds, saturates
    rw = resized.shape[1]
    height = math.ceil(VAL_HEIGHT / STRIDE) * STRIDE
    width = math.ceil(max(rw, VAL_HEIGHT) / STRIDE) * STRIDE
    return _pad_centred(resized, height, width, scale, scale, w, h)


def _prepare_deploy(image: np.ndarray, deploy_shape: tuple[int, int]) -> Prepared:
    h, w = image.shape[:2]
    height, width = deploy_shape
    scale = min(height / h, width / w)
    size = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
    return _resize_centred(image, size, height, width)


def native_width(image_hw: tuple[int, int], height: int) -> int:
    """The network input width for an image at `height`, its aspect kept: rounded up to a multiple of 8."""
    return math.ceil(_native_size(image_hw, height)[0] / STRIDE) * STRIDE


def _native_size(image_hw: tuple[int, int], height: int) -> tuple[int, int]:
    """(width, height) of the image resized to `height`, its aspect kept; one so wide that it would pass
    MAX_NATIVE_WIDTH keeps that width instead (its height then falls below `height`, padded)."""
    h, w = image_hw
    if round(w * height / h) <= MAX_NATIVE_WIDTH:
        return max(1, round(w * height / h)), height
    return MAX_NATIVE_WIDTH, max(1, round(h * MAX_NATIVE_WIDTH / w))


def _prepare_native(image: np.ndarray, height: int) -> Prepared:
    h, w = image.shape[:2]
    return _resize_centred(image, _native_size((h, w), height), height, native_width((h, w), height))


def _resize_centred(image: np.ndarray, size: tuple[int, int], height: int, width: int) -> Prepared:
    """`image` resized (bilinear) to `size` (width, height) straight into the centre of a grey
    height x width canvas: the pixels are written once, where resizing and then padding copies them
    twice (a tenth of a millisecond per VGA frame, in the thread that feeds the network). The
    geometry has the exact per-axis scales of the rounded size, so that coordinates map back exactly."""
    h, w = image.shape[:2]
    canvas, inside, left, top = _grey_canvas(height, width, size[1], size[0])
    resized = cv2.resize(image, size, dst=inside, interpolation=cv2.INTER_LINEAR)
    if resized is not inside:  # OpenCV made an array of its own instead: copied in
        inside[...] = resized
    return Prepared(canvas, Geometry(size[0] / w, size[1] / h, left, top, w, h))


def _pad_centred(
    resized: np.ndarray, height: int, width: int, scale_x: float, scale_y: float, w: int, h: int
) -> Prepared:
    canvas, inside, left, top = _grey_canvas(height, width, *resized.shape[:2])
    inside[...] = resized
    return Prepared(canvas, Geometry(scale_x, scale_y, left, top, w, h))


def _grey_canvas(height: int, width: int, rh: int, rw: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A grey height x width canvas, its centred rh x rw window (where the resized image goes) and
    that window's left and top offsets: the one place the padding is laid out."""
    top, left = (height - rh) // 2, (width - rw) // 2
    canvas = np.full((height, width, 3), int(PAD_VALUE), np.uint8)
    return canvas, canvas[top : top + rh, left : left + rw], left, top


def to_nchw(image: np.ndarray) -> np.ndarray:
    """HWC BGR image -> float32 [1, 3, H, W], the layout every exported artifact takes."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)

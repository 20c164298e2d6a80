"""The deploy and native protocols resize straight into a grey canvas: the same input, pixel for pixel,
as a bilinear resize padded afterwards, on real COCO images of every shape coco-mini holds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from poseforge.images import read_image
from poseforge.preprocess import PAD_VALUE, prepare


def resized_then_padded(image: np.ndarray, size: tuple[int, int], height: int, width: int) -> np.ndarray:
    resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    return cv2.copyMakeBorder(resized, top, height - size[1] - top, left, width - size[0] - left,
                              cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)  # fmt: skip


@pytest.mark.parametrize(("protocol", "input_height"), [("deploy", None), ("native", None), ("native", 368)])
def test_the_canvas_holds_the_resized_image_and_grey_around_it(
    coco_images: list[Path], protocol: str, input_height: int | None
) -> None:
    images = [read_image(path) for path in coco_images[:24]]
    shapes = {image.shape[:2] for image in images}
    assert len(shapes) > 3  # landscape, portrait and others
    for image in [*images, cv2.rotate(images[0], cv2.ROTATE_90_CLOCKWISE), image_of(images[0], 100, 1200)]:
        prepared = prepare(image, protocol, input_height=input_height)
        g = prepared.geometry
        height, width = prepared.image.shape[:2]
        size = (round(g.scale_x * image.shape[1]), round(g.scale_y * image.shape[0]))
        np.testing.assert_array_equal(prepared.image, resized_then_padded(image, size, height, width))
        assert (g.pad_left, g.pad_top) == ((width - size[0]) // 2, (height - size[1]) // 2)
        assert prepared.image.dtype == np.uint8 and prepared.image.flags.c_contiguous


def image_of(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """A wide strip of a real image: the letterbox pads it above and below."""
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))

"""Where the network grid sits in the original image.

Coordinates are continuous pixel coordinates: an image of width W spans [0, W] and the
centre of pixel index i is at i + 0.5 (the COCO convention). On the network's output
grid (stride 8) cell j covers network-input pixels 8j .. 8j + 7, so a point at grid
coordinate u (cell j spans [j, j + 1]) is at network-input coordinate 8u.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poseforge.keypoints import STRIDE


@dataclass(frozen=True)
class Geometry:
    """How the network input was made from the original image.

    The original image was resized by (scale_x, scale_y) (resized = original * scale) and
    then padded by pad_left / pad_top network-input pixels before the resized image.
    """

    scale_x: float
    scale_y: float
    pad_left: float
    pad_top: float
    image_width: int
    image_height: int

    def __post_init__(self) -> None:
        for name in ("scale_x", "scale_y", "pad_left", "pad_top"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"Geometry.{name} must be finite, got {value!r}")
        if self.scale_x <= 0 or self.scale_y <= 0:
            raise ValueError(f"Geometry scales must be positive, got ({self.scale_x}, {self.scale_y})")
        if self.image_width <= 0 or self.image_height <= 0:
            raise ValueError(f"Geometry image size must be positive, got {self.image_width}x{self.image_height}")

    def grid_to_image(self, grid_xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) grid coordinates (in cells) to original-image coordinates."""
        grid_xy = np.asarray(grid_xy, dtype=np.float64)
        out = np.empty_like(grid_xy)
        out[..., 0] = (grid_xy[..., 0] * STRIDE - self.pad_left) / self.scale_x
        out[..., 1] = (grid_xy[..., 1] * STRIDE - self.pad_top) / self.scale_y
        return out

    def image_to_grid(self, image_xy: np.ndarray) -> np.ndarray:
        """Inverse of grid_to_image."""
        image_xy = np.asarray(image_xy, dtype=np.float64)
        out = np.empty_like(image_xy)
        out[..., 0] = (image_xy[..., 0] * self.scale_x + self.pad_left) / STRIDE
        out[..., 1] = (image_xy[..., 1] * self.scale_y + self.pad_top) / STRIDE
        return out

"""Bundle runner: a verified .tar.gz bundle on the OpenVINO CPU plugin, fed u8 BGR NHWC frames.

It speaks the common runner interface, so `poseforge validate` and `speed` run bundles too:
the validate loop hands every runner float32 NCHW raw pixels, which are rounded, clipped to
0..255 and transposed into the u8 NHWC frame the bundle takes. Prediction hands it u8 NHWC
frames directly. The bundle is extracted and checked (sha256 of every file) into a private
temporary directory that lives as long as the runner.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.bundle import open_bundle
from poseforge.errors import PoseforgeError
from poseforge.ir_files import read_ir
from poseforge.keypoints import STRIDE
from poseforge.runtime import check_batch
from poseforge.runtime.openvino_runner import OpenVINORunner, ir_metadata


def bundle_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a bundle's IR (verified first), without compiling it."""
    with open_bundle(path) as bundle:
        return ir_metadata(read_ir(bundle.xml), path)


def camera_batch(batch: np.ndarray) -> np.ndarray:
    """u8 NHWC [N, H, W, 3] as is; float32 NCHW raw pixels [N, 3, H, W] rounded and clipped into it."""
    if batch.dtype == np.uint8 and batch.ndim == 4 and batch.shape[3] == 3:
        if batch.shape[1] % STRIDE or batch.shape[2] % STRIDE:
            raise PoseforgeError(f"bundle input must be [N, H, W, 3] with H and W multiples of 8, got {batch.shape}")
        return np.ascontiguousarray(batch)
    # A float input can hold what no camera gives (the val protocol's bicubic overshoot,
    # fractions): the nearest u8 frame is what the bundle can be fed.
    pixels = np.rint(check_batch(batch).transpose(0, 2, 3, 1))
    return np.clip(pixels, 0, 255, out=pixels).astype(np.uint8)


class BundleRunner(OpenVINORunner):
    """The OpenVINO runner, reading a verified bundle and feeding its u8 NHWC input."""

    def _read(self, path: Path) -> tuple[Any, dict[str, Any]]:
        bundle = open_bundle(path)
        weakref.finalize(self, bundle.close)  # the private copy goes with the runner
        self.bundle = bundle.manifest
        model = read_ir(bundle.xml, self.core)
        return model, ir_metadata(model, path)

    def _input_shape(self, shape: tuple[int, int, int, int] | None) -> list[int]:
        # `shape` is the network's NCHW shape, like every runner's; the bundle takes NHWC.
        n, h, w = (shape[0], shape[2], shape[3]) if shape else (-1, -1, -1)
        return [n, h, w, 3]

    def _input(self, batch: np.ndarray) -> np.ndarray:
        return camera_batch(batch)

    def _attach(self, compiled: Any, metadata: dict[str, Any]) -> None:
        super()._attach(compiled, metadata)
        self.settings["input"] = "uint8 NHWC"

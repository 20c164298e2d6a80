"""Bundle runner: a verified .tar.gz bundle on the OpenVINO CPU plugin, fed u8 BGR NHWC frames.

It speaks the common runner interface, so `poseforge validate` and `speed` run bundles too:
the validate loop hands every runner float32 NCHW raw pixels, which are rounded, clipped to
0..255 and transposed into the u8 NHWC frame the bundle takes. Prediction hands it u8 NHWC
frames directly. The bundle is checked (framing, sha256 of every file, signature, measured figures
against its reports) while its network is copied into a private temporary directory, read, checked
against bundle.json, and the directory removed again: the network lives on in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from poseforge.bundle.archive import Trust, open_bundle
from poseforge.bundle.manifest import check_ir_claims
from poseforge.errors import PoseforgeError
from poseforge.ir_files import graph_precision, ir_metadata, read_ir
from poseforge.keypoints import STRIDE
from poseforge.runtime.common import check_batch
from poseforge.runtime.openvino_runner import OpenVINORunner, core
from poseforge.runtime.options import RuntimeOptions


class BundleRead(NamedTuple):
    """A verified bundle in memory: its network, the network's metadata, bundle.json, and its trust."""

    model: Any  # ov.Model
    metadata: dict[str, Any]
    manifest: dict[str, Any]
    trust: Trust
    sha256: str  # the archive's, of the bytes verified and run: not the file's now, which may have been replaced


def read_bundle(path: str | Path, trusted_keys: Sequence[Any] | None = None) -> BundleRead:
    """A bundle verified (archive.open_bundle: framing, hashes, signature, reports), its network read,
    and bundle.json checked against the network's own metadata and graph; nothing left on disk.
    With `trusted_keys` (public key files), a bundle not signed by one of them is refused."""
    with open_bundle(path, trusted_keys) as bundle:
        model = read_ir(bundle.xml, core())
        metadata = ir_metadata(model, path)
        check_ir_claims(bundle.manifest, metadata, path)
        found = graph_precision(model)
        if found != metadata["precision"]:
            raise PoseforgeError(f"bundle {Path(path).name}: its network is {found} where its metadata and "
                                 f"bundle.json say {metadata['precision']}")  # fmt: skip
        return BundleRead(model, metadata, bundle.manifest, bundle.trust, bundle.sha256)


def bundle_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a bundle's IR (verified first), without compiling it."""
    return read_bundle(path)[1]


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
    """The OpenVINO runner around a verified bundle's network, fed its u8 NHWC input."""

    bundle: dict[str, Any]  # bundle.json

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings["input"] = "uint8 NHWC"

    @classmethod
    def open(cls, path: str | Path, options: RuntimeOptions) -> BundleRunner:
        return cls.from_bundle(read_bundle(path), options, str(path))

    @classmethod
    def from_bundle(cls, read: BundleRead, options: RuntimeOptions, source: str) -> BundleRunner:
        """Compile what `read_bundle` read: the network, its metadata and bundle.json."""
        runner = cls.from_model(read.model, read.metadata, options, source)
        runner.bundle = read.manifest
        return runner

    def with_options(self, **changes: Any) -> BundleRunner:
        runner = super().with_options(**changes)
        runner.bundle = self.bundle
        return runner

    @staticmethod
    def input_shape(shape: tuple[int, int, int, int] | None) -> list[int]:
        # `shape` is the network's NCHW shape, like every runner's; the bundle takes NHWC.
        n, h, w = (shape[0], shape[2], shape[3]) if shape else (-1, -1, -1)
        return [n, h, w, 3]

    def _input(self, batch: np.ndarray) -> np.ndarray:
        return camera_batch(batch)

"""The one loop every accuracy and end-to-end measurement runs: read, prepare, infer, decode.

Images are read and prepared ahead in a thread, the runner infers later frames while this
thread decodes earlier ones (`Runner.stream`), and the decoded poses become pycocotools
results. The same loop serves validation (for the results) and the end-to-end speed
measurement (for its wall-clock fps), so the figure is the one a user's pipeline gets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from poseforge.decode import DecoderParams, decode, to_coco_results
from poseforge.errors import PoseforgeError
from poseforge.preprocess import prepare, to_nchw
from poseforge.runtime import Runner
from poseforge.validate.accuracy.dataset import CocoImage, prefetch


@dataclass
class LoopResult:
    results: list[dict] = field(default_factory=list)  # pycocotools keypoint results
    image_ids: list[int] = field(default_factory=list)  # images that were run (bad ones excluded)
    skipped: list[str] = field(default_factory=list)  # bad images left out with --skip-bad-images
    decode_ms: list[float] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def run_loop(
    runner: Runner,
    images: list[CocoImage],
    protocol: str,
    deploy_shape: tuple[int, int],
    params: DecoderParams | None = None,
    skip_bad: bool = False,
    progress: Any = None,
    keep_results: bool = True,
    allow_empty: bool = False,
    input_height: int | None = None,
) -> LoopResult:
    """Run every image once through `runner`; `progress` is an optional (rich Progress, task) pair.
    `allow_empty`: a shard whose every image was skipped is not yet an error (the merged run may be);
    `input_height` is the native protocol's (None: the deploy height)."""
    params = params or DecoderParams()
    out = LoopResult()

    def prepared_as(pixels: np.ndarray) -> Any:
        return prepare(pixels, protocol, deploy_shape, input_height)

    def frames() -> Iterator[tuple[Any, np.ndarray]]:
        for image, prepared in prefetch(images, prepared_as, skip_bad):
            if prepared is None:
                out.skipped.append(image.file_name)
                _advance(progress)
                continue
            yield (image, prepared.geometry), to_nchw(prepared.image)

    start = time.perf_counter()
    for (image, geometry), (heatmaps, pafs) in runner.stream(frames()):
        tick = time.perf_counter()
        poses = decode(heatmaps[0], pafs[0], geometry, params)
        out.decode_ms.append((time.perf_counter() - tick) * 1e3)
        if keep_results:
            out.results.extend(to_coco_results(poses, image.id))
            out.image_ids.append(image.id)
        out.frames += 1
        _advance(progress)
    out.seconds = time.perf_counter() - start
    if not allow_empty:
        check_not_empty(out)
    return out


def check_not_empty(out: LoopResult) -> None:
    """Refuse a run whose every image was skipped: nothing left to score or time (one line naming them)."""
    if out.skipped and not out.frames:
        shown = ", ".join(out.skipped[:3]) + (f" and {len(out.skipped) - 3} more" if len(out.skipped) > 3 else "")
        raise PoseforgeError(f"every image was undecodable or refused, nothing left to measure: {shown}")


def _advance(progress: Any) -> None:
    if progress is not None:
        bar, task = progress
        bar.advance(task)

"""Decoder thresholds, each with upstream Lightweight OpenPose's value as the default."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DecoderParams:
    """Every knob of decode().

    The thresholds default to upstream's val.py values; the last two fields are how this
    decoder finds peaks (upstream has no equivalent).
    """

    # A heatmap sample below this is never a keypoint (upstream extract_keypoints: 0.1).
    heatmap_threshold: float = 0.1
    # Two peaks of one keypoint type closer than this, in original-image pixels, are one
    # keypoint; the weaker is dropped (upstream: 6 pixels, at original-image size).
    peak_suppression_radius: float = 6.0
    # Points sampled along each candidate limb, end points included (upstream: 10).
    paf_samples: int = 10
    # A sample supports the limb if PAF . unit limb vector exceeds this (upstream: 0.05).
    min_paf_score: float = 0.05
    # A limb is valid only if more than this fraction of samples support it (upstream: 0.8).
    min_paf_success_ratio: float = 0.8
    # People joined from fewer keypoints than this are dropped (upstream: 3).
    min_keypoints: int = 3
    # People whose score / keypoint count is below this are dropped (upstream: 0.2).
    min_mean_score: float = 0.2
    # Not upstream: heatmaps are searched for peaks after bicubic upsampling by this factor
    # on the network grid (upstream searches a full-size cubic upsampling). 1 searches the
    # network's own samples, which with refine_peaks loses nothing measurable (coco-mini AP
    # within noise of 2, 4 and 8) and needs no BLAS call; larger factors cost a matrix
    # product per axis.
    upsample_factor: int = 1
    # Not upstream: refine each peak with a parabola through the log of the network's own
    # heatmap samples around it (exact for the Gaussian blobs the network is trained to
    # output); False keeps the upsampled sample position.
    refine_peaks: bool = True

    def __post_init__(self) -> None:
        # The peak test treats outside the map as zero, which needs a positive threshold.
        if not (math.isfinite(self.heatmap_threshold) and self.heatmap_threshold > 0):
            raise ValueError(f"heatmap_threshold must be positive, got {self.heatmap_threshold}")
        if not self.peak_suppression_radius >= 0:
            raise ValueError(f"peak_suppression_radius must be >= 0, got {self.peak_suppression_radius}")
        if self.paf_samples < 2:
            raise ValueError(f"paf_samples must be at least 2 (both ends), got {self.paf_samples}")
        if not 0 <= self.min_paf_success_ratio < 1:
            raise ValueError(f"min_paf_success_ratio must be in [0, 1), got {self.min_paf_success_ratio}")
        if self.min_keypoints < 2:
            raise ValueError(f"min_keypoints must be at least 2 (one limb), got {self.min_keypoints}")
        if self.upsample_factor < 1:
            raise ValueError(f"upsample_factor must be at least 1, got {self.upsample_factor}")

"""Decoder thresholds, each with upstream Lightweight OpenPose's value as the default."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_PAF_SAMPLES = 100
MAX_UPSAMPLE = 8


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
    # network's own samples, which with refine_peaks loses nothing measurable (AP within
    # noise of factors 2, 4 and 8) and needs no BLAS call; larger factors cost a matrix
    # product per axis.
    upsample_factor: int = 1
    # Not upstream: refine each peak with a parabola through the log of the network's own
    # heatmap samples around it (exact for the Gaussian blobs the network is trained to
    # output); False keeps the upsampled sample position.
    refine_peaks: bool = True

    def __post_init__(self) -> None:
        # Bounds are what a decoder can sensibly be asked (and what bounds its memory and time):
        # bundle.json and --decoder overrides arrive here, so nothing outside them gets through.
        for name, kind in (("paf_samples", int), ("min_keypoints", int), ("upsample_factor", int)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if not isinstance(self.refine_peaks, bool):
            raise ValueError(f"refine_peaks must be true or false, got {self.refine_peaks!r}")
        for name in ("heatmap_threshold", "peak_suppression_radius", "min_paf_score", "min_paf_success_ratio",
                     "min_mean_score"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        # The peak test treats outside the map as zero, which needs a positive threshold.
        if not 0 < self.heatmap_threshold <= 1:
            raise ValueError(f"heatmap_threshold must be in (0, 1], got {self.heatmap_threshold}")
        if not 0 <= self.peak_suppression_radius <= 1000:
            raise ValueError(f"peak_suppression_radius must be in [0, 1000] pixels, got {self.peak_suppression_radius}")
        if not 2 <= self.paf_samples <= MAX_PAF_SAMPLES:
            raise ValueError(f"paf_samples must be in [2, {MAX_PAF_SAMPLES}] (both ends), got {self.paf_samples}")
        if not -1 <= self.min_paf_score <= 1:
            raise ValueError(f"min_paf_score must be in [-1, 1], got {self.min_paf_score}")
        if not 0 <= self.min_paf_success_ratio < 1:
            raise ValueError(f"min_paf_success_ratio must be in [0, 1), got {self.min_paf_success_ratio}")
        if not 2 <= self.min_keypoints <= 18:
            raise ValueError(f"min_keypoints must be in [2, 18] (one limb at least), got {self.min_keypoints}")
        if not 0 <= self.min_mean_score <= 100:
            raise ValueError(f"min_mean_score must be in [0, 100], got {self.min_mean_score}")
        if not 1 <= self.upsample_factor <= MAX_UPSAMPLE:
            raise ValueError(f"upsample_factor must be in [1, {MAX_UPSAMPLE}], got {self.upsample_factor}")

"""QuantizeSettings: every choice `quantize` makes, with the defaults the INT8 note's table chose.

Kept apart from the NNCF code so that the CLI can show the defaults without importing OpenVINO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from poseforge.errors import PoseforgeError

SELECTIONS = ("people", "name")  # how calibration images are chosen: by the FP32 network's detections, by name
PRESETS = ("performance", "mixed")
RANGE_ESTIMATORS = (
    "minmax", "nncf-default", "mean_minmax", "median_minmax", "mean_no_outliers_minmax", "mean_quantile", "histogram",
)  # fmt: skip
SCOPE_KINDS = ("name", "pattern", "type")


@dataclass(frozen=True)
class QuantizeSettings:
    # Defaults chosen on the honest protocol (ptq's module docstring says why; the figures are in
    # the INT8 notes): each was compared with its alternatives for AP under both protocols and
    # for throughput on every ISA tier, calibrating on COCO train2017 images and scoring on
    # val2017 images.
    preset: str = "performance"
    fast_bias_correction: bool = False
    range_estimator: str = "minmax"
    subset_size: int = 300  # calibration images used, at most
    select: str = "people"  # how calibration images are chosen (SELECTIONS)
    candidates: int | None = 2000  # images considered for `select` (the folder's first N by name); None: all
    ignored_scope: tuple[str, ...] = ()  # "name:X", "pattern:REGEX", "type:OpType"
    ignore_heads: bool = False  # keep the two output convolutions in floating point (f32 kernels beside AMX's INT8)
    ignore_concat: bool = False  # keep the convolution(s) fed by a Concat (the refinement stage's input) in float
    max_drop: float | None = None  # accuracy control: max drop of the agreement with FP32 (1.0 for FP32 itself)


def check_choices(settings: QuantizeSettings) -> None:
    if settings.preset not in PRESETS:
        raise PoseforgeError(f"unknown preset {settings.preset!r}; choose from {', '.join(PRESETS)}")
    if settings.range_estimator not in RANGE_ESTIMATORS:
        raise PoseforgeError(
            f"unknown range estimator {settings.range_estimator!r}; choose from {', '.join(RANGE_ESTIMATORS)}"
        )
    if settings.subset_size < 1:
        raise PoseforgeError(f"subset size must be at least 1, got {settings.subset_size}")
    if settings.select not in SELECTIONS:
        raise PoseforgeError(f"unknown calibration selection {settings.select!r}; choose from {', '.join(SELECTIONS)}")
    if settings.candidates is not None and settings.candidates < 1:
        raise PoseforgeError(f"candidates must be at least 1, got {settings.candidates}")
    for entry in settings.ignored_scope:
        kind, _, value = entry.partition(":")
        if kind not in SCOPE_KINDS or not value:
            raise PoseforgeError(f"ignored scope {entry!r} is not KIND:VALUE with KIND one of {', '.join(SCOPE_KINDS)}")
        if kind == "pattern":
            try:  # NNCF compiles it only after calibration, and its error names neither the option nor the pattern
                re.compile(value)
            except re.error as exc:
                raise PoseforgeError(f"ignored scope {entry[:80]!r}: not a regular expression ({exc})") from None
    if settings.max_drop is not None and not 0 <= settings.max_drop < 1:
        raise PoseforgeError(
            f"max drop is an absolute drop of the agreement with FP32 (OKS-AP, 0..1) in [0, 1), got {settings.max_drop}"
        )

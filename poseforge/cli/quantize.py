"""The quantize command: INT8 IR from the FP32 IR with NNCF."""

from __future__ import annotations

import argparse

from poseforge.cli.common import POSITIVE_INT, Command, add_output, number


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="the FP32 IR .xml")
    add_output(p, "INT8 IR .xml to write")
    p.add_argument("--calib", required=True, help="folder of calibration images (e.g. DATA/coco-calib/train2017)")
    p.add_argument("--coco", help="COCO directory: for --max-drop, and to refuse a calibration/validation overlap")
    p.add_argument("--subset-size", type=POSITIVE_INT, default=300, help="calibration images (or all if fewer)")
    p.add_argument("--preset", choices=("performance", "mixed"), default="performance",
                   help="NNCF preset (performance: symmetric activations, the faster kernels)")  # fmt: skip
    p.add_argument("--fast-bias-correction", action=argparse.BooleanOptionalAction, default=False,
                   help="NNCF's fast bias correction, not the full one")  # fmt: skip
    p.add_argument("--range-estimator", default="minmax",
                   choices=("minmax", "nncf-default", "mean_minmax", "median_minmax", "mean_no_outliers_minmax"),
                   help="activation range estimator (NNCF's mean of per-image extremes clips the heatmap peaks on "
                        "person-free images)")  # fmt: skip
    p.add_argument("--ignored-scope", action="append", default=[], metavar="KIND:VALUE",
                   help="keep in floating point: name:LAYER, pattern:REGEX or type:OPTYPE (repeatable)")  # fmt: skip
    p.add_argument("--ignore-heads", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the two output convolutions in floating point")  # fmt: skip
    p.add_argument("--max-drop", type=number(float, 0, 1), help="accuracy control: maximum absolute COCO AP drop")
    p.add_argument("--validation-limit", type=POSITIVE_INT, help="accuracy control: validate on the first N images")


def _quantize(args: argparse.Namespace) -> None:
    from poseforge.quantize.commands import quantize_command
    from poseforge.quantize.ptq import QuantizeSettings

    settings = QuantizeSettings(
        preset=args.preset, fast_bias_correction=args.fast_bias_correction, range_estimator=args.range_estimator,
        subset_size=args.subset_size, ignored_scope=tuple(args.ignored_scope), ignore_heads=args.ignore_heads,
        max_drop=args.max_drop,
    )  # fmt: skip
    quantize_command(args.source, args.output, args.calib, settings, args.coco, args.validation_limit)


COMMANDS = (
    Command("quantize", "quantize", "INT8 IR from the FP32 IR with NNCF (optionally accuracy-controlled)", _arguments,
            _quantize, "Post-training quantization of the OpenVINO FP32 IR with nncf.quantize; calibration images "
            "from any folder disjoint from the validation images, pre-processed as the deploy protocol. Settings, "
            "what calibrated it, float layers and heatmap peak retention go into rt_info."),
)  # fmt: skip

"""The quantize command: INT8 IR from the FP32 IR with NNCF."""

from __future__ import annotations

import argparse

from poseforge.cli.common import POSITIVE_INT, Command, add_coco, add_output, add_ray, coco_dir, number, wrote
from poseforge.quantize.settings import PRESETS, RANGE_ESTIMATORS, SELECTIONS, QuantizeSettings

DEFAULT = QuantizeSettings()  # the defaults live there, with the reasons for them


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="the FP32 IR .xml")
    add_output(p, "INT8 IR .xml to write")
    p.add_argument("--calib", required=True, help="folder of calibration images (e.g. DATA/coco-calib/train2017)")
    # The set validate scores by default: calibrating on it is refused without --coco too.
    add_coco(p, "COCO directory the INT8 IR will be validated on: an overlap with --calib is refused")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="calibrate even on --coco's validation images (noted in rt_info: the AP is optimistic)",
    )
    p.add_argument("--subset-size", type=POSITIVE_INT, default=DEFAULT.subset_size,
                   help="calibration images used, at most (default %(default)s)")  # fmt: skip
    p.add_argument("--select", choices=SELECTIONS, default=DEFAULT.select,
                   help="which images calibrate: 'people' (default), those on which the FP32 network and the decoder "
                        "find the most people, no labels needed; 'name', the first in name order")  # fmt: skip
    p.add_argument("--candidates", type=number(int, 0, 1_000_000), default=DEFAULT.candidates,
                   help="images of the folder considered for --select (the first N by name; default %(default)s, "
                        "0 for all)")  # fmt: skip
    p.add_argument("--preset", choices=PRESETS, default=DEFAULT.preset,
                   help="NNCF preset (default %(default)s: symmetric activations, as Intel's release; 'mixed' puts "
                        "zero points on the ELU and concat inputs: slower kernels)")  # fmt: skip
    p.add_argument("--fast-bias-correction", action=argparse.BooleanOptionalAction,
                   default=DEFAULT.fast_bias_correction,
                   help=f"NNCF's fast bias correction (default: {_yes(DEFAULT.fast_bias_correction)})")  # fmt: skip
    p.add_argument("--range-estimator", choices=RANGE_ESTIMATORS, default=DEFAULT.range_estimator,
                   help="activation range estimator (default %(default)s: the averaging and quantile estimators clip "
                        "the heatmap peaks)")  # fmt: skip
    p.add_argument("--ignored-scope", action="append", default=[], metavar="KIND:VALUE",
                   help="keep in floating point: name:LAYER, pattern:REGEX or type:OPTYPE (repeatable)")  # fmt: skip
    p.add_argument("--ignore-heads", action=argparse.BooleanOptionalAction, default=DEFAULT.ignore_heads,
                   help=f"keep the two output convolutions in float ({_yes(DEFAULT.ignore_heads)})")  # fmt: skip
    p.add_argument("--ignore-concat", action=argparse.BooleanOptionalAction, default=DEFAULT.ignore_concat,
                   help="keep the 1x1 convolution after the refinement stage's concat in floating point (default: "
                        f"{_yes(DEFAULT.ignore_concat)})")  # fmt: skip
    p.add_argument("--max-drop", type=number(float, 0, 1),
                   help="accuracy control: maximum drop of the INT8/FP32 pose agreement (OKS-AP against the FP32 "
                        "poses on the calibration images, 1.0 for FP32 itself), e.g. 0.1")  # fmt: skip
    p.add_argument("--agreement-images", metavar="DIR",
                   help="accuracy control: measure the agreement on DIR's images that did not calibrate (by name or "
                        "content; --calib's own folder gives its images beyond those used), never the --coco images; "
                        "default: the calibration images")  # fmt: skip
    p.add_argument("--validation-limit", type=POSITIVE_INT,
                   help="accuracy control: measure the agreement on the first N of those images only")  # fmt: skip


def _quantize(args: argparse.Namespace) -> None:
    from poseforge.quantize.commands import quantize_command

    settings = QuantizeSettings(
        preset=args.preset, fast_bias_correction=args.fast_bias_correction, range_estimator=args.range_estimator,
        subset_size=args.subset_size, select=args.select, candidates=args.candidates or None,
        ignored_scope=tuple(args.ignored_scope), ignore_heads=args.ignore_heads, ignore_concat=args.ignore_concat,
        max_drop=args.max_drop,
    )  # fmt: skip
    quantize_command(args.source, args.output, args.calib, settings, coco_dir(args), args.validation_limit,
                     args.allow_overlap, args.agreement_images)  # fmt: skip


def _sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("settings", help="the sweep's settings (TOML: [inputs], [base], [grid] and/or [[rows]]; see README)")
    add_output(p, "folder for the table (sweep.md, sweep.json), the plot (sweep.png) and every row's IR and report; "
               "rows already in it with the same settings and inputs are not run again")  # fmt: skip
    p.add_argument("--fp32", help="the FP32 IR (instead of inputs.fp32)")
    p.add_argument("--calib", help="calibration folder (instead of inputs.calib; default DATA/coco-calib/train2017)")
    add_coco(p, "COCO directory every row is scored on (instead of inputs.coco)")
    add_ray(p, "run the rows as tasks, each holding a whole node")


def _sweep(args: argparse.Namespace) -> None:
    from poseforge.fetch import data_dir
    from poseforge.quantize.sweep import in_process, run_sweep
    from poseforge.quantize.sweep_settings import read_sweep

    sweep = read_sweep(args.settings, data_dir(args.data), {"fp32": args.fp32, "calib": args.calib, "coco": args.coco})
    if args.ray is None:
        run_sweep(sweep, args.output, in_process)
    else:
        from poseforge.cluster.session import ray_cluster
        from poseforge.cluster.sweep import ray_rows

        with ray_cluster(args.ray, "sweep") as cluster:
            run_sweep(sweep, args.output, ray_rows(cluster), scheduler=cluster.record())
    for name in ("sweep.md", "sweep.json", "sweep.png"):
        wrote(f"{args.output}/{name}")


COMMANDS = (
    Command("quantize", "quantize", "INT8 IR from the FP32 IR with NNCF (optionally accuracy-controlled)", _arguments,
            _quantize, "Post-training quantization of the OpenVINO FP32 IR with nncf.quantize. Calibration images "
            "come from any folder disjoint from the validation images (an overlap with --coco is refused unless "
            "--allow-overlap), chosen without labels (by default those on which the FP32 network itself finds the "
            "most people) and pre-processed as the deploy protocol. With --max-drop, "
            "nncf.quantize_with_accuracy_control keeps layers in floating point until the INT8 poses agree with the "
            "FP32 network's own poses within the drop, on the calibration images or on held-out images "
            "(--agreement-images): no label and no validation image is used. Settings, what calibrated (folder, "
            "images considered and used, their sha256), the float layers and the heatmap peak retention go into "
            "rt_info."),
    Command("sweep", "quantize", "many INT8 settings, each quantized, validated against FP32 and timed (resumable)",
            _sweep_arguments, _sweep, "Read a grid or list of quantization settings (TOML). Each row is quantized "
            "from the FP32 IR, validated with its paired interval against the FP32 IR on the same images, and its "
            "throughput measured back to back with FP32's. Rows are cached in -o by the sha256 of their settings "
            "and inputs (FP32 IR, calibration images, validation set, poseforge version): an interrupted sweep "
            "resumes. Writes sweep.md and sweep.json (which set each row was chosen on and scored on, warning "
            "when they are the same) and sweep.png (AP with its interval against fps)."),
)  # fmt: skip

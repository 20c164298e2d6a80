"""`poseforge`: one subcommand per pipeline stage. Argument parsing only.

Heavy libraries (torch, openvino, nncf) are imported inside the commands that use them, so
`poseforge --help` is instant and `predict` needs no torch.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from poseforge.artifacts import PROTOCOLS
from poseforge.documents import MAX_REFINEMENT_STAGES
from poseforge.errors import PoseforgeError

DESCRIPTION = """\
Lightweight OpenPose from a PyTorch checkpoint to verified OpenVINO artifacts.

The pipeline is a chain of files; each subcommand reads files and writes one:
  checkpoint / import-ir  ->  model.pth
  export                  ->  model.onnx
  simplify                ->  model.sim.onnx
  convert                 ->  ir/fp32/model.xml, ir/fp16/model.xml
  parity                  prints how closely every artifact follows the checkpoint
Data (weights, COCO) is found in --data, else $POSEFORGE_DATA, else ~/.cache/poseforge.
"""


def _number(kind: type, low: float, high: float = math.inf, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite `kind` in [low, high] (`above`: > low), else a one-line usage error."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or value < low or value > high or (above and value == low):
            bound = f"> {low:g}" if above else f">= {low:g}"
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: expected {bound}" + (f" and <= {high:g}" if high < math.inf else "")
            )
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE_INT = _number(int, 1, 1_000_000)
THREADS = _number(int, 1, 1024)
SECONDS = _number(float, 0, 24 * 3600, above=True)
SEED = _number(int, 0, 2**32 - 1)
STAGES = _number(int, 1, MAX_REFINEMENT_STAGES + 1)


def _cmd_checkpoint(args: argparse.Namespace) -> None:
    from poseforge.models.checkpoint import import_checkpoint, save_checkpoint

    ckpt = import_checkpoint(args.model, args.source)
    save_checkpoint(ckpt, args.output)
    print(f"wrote {args.output} ({args.model}, {ckpt.config}, source sha256 {ckpt.metadata['source']['sha256'][:12]})")


def _cmd_import_ir(args: argparse.Namespace) -> None:
    from poseforge.fetch import omz_ir
    from poseforge.ir_files import read_ir
    from poseforge.models.checkpoint import save_checkpoint
    from poseforge.models.ir_import import import_ir, verify_against_ir

    source = Path(args.ir) if args.ir else omz_ir(args.data)
    ckpt = import_ir(source)
    diff = verify_against_ir(ckpt, read_ir(source))
    save_checkpoint(ckpt, args.output)
    print(
        f"wrote {args.output}: {ckpt.model} imported from {source.name}, "
        f"matches the IR with activation FakeQuantize bypassed within {diff:.2g} (max abs, probe input)"
    )


def _cmd_export(args: argparse.Namespace) -> None:
    from poseforge.convert.onnx_export import OPSET, export_onnx

    export_onnx(args.checkpoint, args.output)
    print(f"wrote {args.output} (ONNX opset {OPSET}, input data [1,3,H,W] raw BGR, outputs heatmaps, pafs)")


def _cmd_simplify(args: argparse.Namespace) -> None:
    from poseforge.convert.simplify import simplify_onnx

    simplify_onnx(args.source, args.output)
    print(f"wrote {args.output}")


def _cmd_convert(args: argparse.Namespace) -> None:
    from poseforge.convert.ir import convert_ir

    convert_ir(args.source, args.output, args.precision)
    print(f"wrote {args.output} (+ .bin, OpenVINO IR {args.precision.upper()})")


def _cmd_parity(args: argparse.Namespace) -> None:
    from poseforge.convert.parity import run_parity

    if not run_parity(args.model_dir, args.images, args.limit, args.golden, args.omz_ir):
        raise PoseforgeError("parity failed: an artifact is outside its tolerance (see the table)")


def _cmd_fetch(args: argparse.Namespace) -> None:
    from poseforge.fetch import ALL, data_dir, fetch, verify_data

    names = ALL if args.what == "all" else (args.what,)
    for name in names:
        fetch(name, args.data)
    problems = verify_data(args.data)
    if problems:
        raise PoseforgeError(f"{len(problems)} file(s) differ from the official ones: " + "; ".join(problems[:3]))
    print(f"data directory {data_dir(args.data)}: {', '.join(names)} present, sha256 verified")


def _precision_hint(value: str) -> str | None:
    return None if value == "default" else value


def _cmd_reference_ir(args: argparse.Namespace) -> None:
    from poseforge.fetch import omz_ir
    from poseforge.models.ir_import import register_reference_ir

    source = Path(args.ir) if args.ir else omz_ir(args.data)
    register_reference_ir(source, args.output)
    print(f"wrote {args.output}: the Open Model Zoo INT8 release with poseforge metadata (outputs identical)")


def _cmd_speed(args: argparse.Namespace) -> None:
    from poseforge.validate.commands import speed_command

    speed_command(args.artifact, args.coco, args.output, _precision_hint(args.precision_hint), args.threads,
                  args.iterations, args.seconds, args.limit)  # fmt: skip


def _cmd_validate(args: argparse.Namespace) -> None:
    from poseforge.validate.commands import validate_command

    validate_command(
        args.artifact, args.coco, args.protocol, args.output, args.limit, args.skip_bad_images,
        _precision_hint(args.precision_hint), args.threads, args.speed, not args.no_speed, args.seconds,
        args.resamples,
    )  # fmt: skip


def _cmd_compare(args: argparse.Namespace) -> None:
    from poseforge.fileio import write_json
    from poseforge.validate.compare import compare_reports, summary_lines

    comparison = compare_reports(args.a, args.b, args.resamples, args.seed)
    for line in summary_lines(comparison):
        print(line)
    if args.output:
        write_json(args.output, {"schema": "poseforge.comparison/1", **comparison})
        print(f"wrote {args.output}")


def _cmd_machine(args: argparse.Namespace) -> None:
    import json

    from poseforge.validate.machine import machine_info, openvino_capabilities, supports_precision

    if args.supports:
        if not supports_precision(args.supports):
            raise SystemExit(1)  # a yes/no answer for make: no message
        print("yes")
        return
    print(json.dumps({**machine_info(), "openvino_capabilities": openvino_capabilities()}, indent=1))


def _cmd_report(args: argparse.Namespace) -> None:
    from poseforge.validate.report import write_report

    for path in write_report(args.model_dir, args.coco, args.allow_subset):
        print(f"wrote {path}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from poseforge.validate.bench import run_bench

    run_bench(args.model_dir, args.coco, args.limit, args.seconds, args.rounds, args.output)


def _cmd_init(args: argparse.Namespace) -> None:
    from poseforge.analysis.complexity import stages_config
    from poseforge.models.checkpoint import random_checkpoint, save_checkpoint

    ckpt = random_checkpoint(args.model, args.seed, stages_config(args.model, args.stages))
    save_checkpoint(ckpt, args.output)
    print(f"wrote {args.output} ({args.model}, {ckpt.config}, random-init seed {args.seed}: NOT trained)")


def _cmd_info(args: argparse.Namespace) -> None:
    from poseforge.analysis.complexity import parse_input
    from poseforge.analysis.info import print_info

    print_info(args.model, parse_input(args.input), args.stages, args.json)


def _cmd_paper(args: argparse.Namespace) -> None:
    from poseforge.analysis.paper import write_paper

    for path in write_paper(args.output, args.proposed, args.baseline, args.sweep, args.int8, args.threads,
                            args.iterations, args.seconds, args.rounds):  # fmt: skip
        print(f"wrote {path}")


def _cmd_quantize(args: argparse.Namespace) -> None:
    from poseforge.quantize.commands import quantize_command
    from poseforge.quantize.ptq import QuantizeSettings

    settings = QuantizeSettings(
        preset=args.preset, fast_bias_correction=args.fast_bias_correction, range_estimator=args.range_estimator,
        subset_size=args.subset_size, select=args.select, candidates=args.candidates or None,
        ignored_scope=tuple(args.ignored_scope), ignore_heads=args.ignore_heads, ignore_concat=args.ignore_concat,
        max_drop=args.max_drop,
    )  # fmt: skip
    quantize_command(args.source, args.output, args.calib, settings, args.coco, args.validation_limit,
                     args.allow_overlap)  # fmt: skip


def _cmd_gate(args: argparse.Namespace) -> None:
    from poseforge.validate.gate_commands import gate_command

    failed = gate_command(args.model_dir, args.baseline, args.allow_subset)
    if failed:
        shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        raise PoseforgeError(f"accuracy gate failed against {args.baseline}: {shown} (causes in the table)")


def _cmd_baseline(args: argparse.Namespace) -> None:
    from poseforge.validate.gate_commands import baseline_command

    baseline_command(args.model_dir, args.baseline, args.allow_subset)


def _cmd_bundle(args: argparse.Namespace) -> None:
    from poseforge.bundle.build import bundle_command

    bundle_command(args.ir, args.reports, args.output, args.allow_subset, args.allow_untrained)


def _cmd_predict(args: argparse.Namespace) -> None:
    from poseforge.predict import predict, summary_line

    summary = predict(args.bundle, args.input, args.output, _precision_hint(args.precision_hint), args.threads,
                      args.skip_bad)  # fmt: skip
    print(summary_line(args.output, summary))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="poseforge", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    from poseforge import __version__

    parser.add_argument("--version", action="version", version=f"poseforge {__version__}")
    parser.add_argument("--debug", action="store_true", help=f"print the traceback of a failure (or {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, func: Callable, help: str, description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description or help)
        p.set_defaults(func=func)
        return p

    p = command(
        "checkpoint", _cmd_checkpoint, "normalise a PyTorch checkpoint into model.pth",
        "Read a checkpoint written by the upstream train.py (or a bare state_dict) with "
        "torch.load(weights_only=True), check every key and shape against the network, and write "
        "the normalised checkpoint every later stage starts from.",
    )  # fmt: skip
    p.add_argument("source", help="the PyTorch checkpoint (.pth)")
    p.add_argument("--model", default="lightweight-openpose", help="network name (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, help="normalised checkpoint to write (model.pth)")

    p = command(
        "import-ir", _cmd_import_ir, "import the Open Model Zoo IR's weights into model.pth",
        "Read the human-pose-estimation-0001 FP16-INT8 IR, check its topology, dequantize every "
        "convolution's weights in float64, take biases and input normalisation, verify that the "
        "PyTorch network reproduces the IR (activation FakeQuantize bypassed), write model.pth.",
    )  # fmt: skip
    p.add_argument("ir", nargs="?", help="the IR .xml (default: the one in the data directory)")
    p.add_argument("--data", help="data directory (default: $POSEFORGE_DATA or ~/.cache/poseforge)")
    p.add_argument("-o", "--output", required=True, help="normalised checkpoint to write (model.pth)")

    p = command("export", _cmd_export, "export model.pth to ONNX (opset 18, dynamic H and W)")
    p.add_argument("checkpoint", help="normalised checkpoint (model.pth)")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")

    p = command("simplify", _cmd_simplify, "simplify an ONNX model with onnxsim, checked")
    p.add_argument("source", help="ONNX file from `export`")
    p.add_argument("-o", "--output", required=True, help="simplified ONNX file to write")

    p = command("convert", _cmd_convert, "convert (simplified) ONNX to an OpenVINO IR")
    p.add_argument("source", help="ONNX file")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="weights precision")
    p.add_argument("-o", "--output", required=True, help="IR .xml to write (the .bin goes beside it)")

    p = command(
        "parity", _cmd_parity, "print how closely every artifact follows the PyTorch checkpoint",
        "Run every artifact in MODEL_DIR (model.pth, model.onnx, model.sim.onnx, ir/fp32, ir/fp16) on "
        "the same inputs and print max abs difference and cosine of heatmaps and pafs against torch. "
        "Exits non-zero when an artifact is outside its tolerance (1e-4; IR FP16 2e-2).",
    )  # fmt: skip
    p.add_argument("model_dir", help="build/<model>")
    p.add_argument("--images", help="folder of images to compare on (e.g. $POSEFORGE_DATA/coco-mini/val2017)")
    p.add_argument("--limit", type=POSITIVE_INT, default=8, help="images to use (default: %(default)s)")
    p.add_argument("--golden", help="npz with an `input` tensor normalised as (x-128)/256 (upstream fixture)")
    p.add_argument("--omz-ir", help="also compare with this Open Model Zoo INT8 IR and its FP32 reference")

    p = command(
        "fetch", _cmd_fetch, "download missing data from official URLs (sha256-checked)",
        "Download what is missing into the data directory from the official URLs: resumable, sha256-checked,\n"
        "renamed into place only once complete. Files already there are checked and kept. Offline, each\n"
        "missing file is named with where to put it. WHAT is one of:\n"
        "  omz         Open Model Zoo FP16-INT8 IR of human-pose-estimation-0001 (xml + bin, 4.6 MB)\n"
        "  coco-mini   79 val2017 images + keypoint annotations (13 MB, + the 253 MB annotations zip)\n"
        "  coco-val    138 val2017 images, 266 people with keypoints (22 MB, + the annotations zip)\n"
        "  coco-calib  367 train2017 images for INT8 calibration, no annotations (59 MB)\n"
        "  val2017     the full val2017, 5,000 images + keypoint annotations (816 MB zip + the annotations\n"
        "              zip, 1.9 GB on disk with both zips); use it as --coco DATA/val2017\n"
        "  all         omz, coco-mini, coco-val and coco-calib (default; not val2017)\n"
        "The annotations of coco-mini and coco-val are cut by image id from the official\n"
        "annotations_trainval2017.zip (kept in DATA/downloads/). An interrupted download leaves FILE.part,\n"
        "which the next run resumes.",
    )  # fmt: skip
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("what", nargs="?", choices=("omz", "coco-mini", "coco-val", "coco-calib", "val2017", "all"),
                   default="all", help="what to fetch (see above; default: %(default)s)")  # fmt: skip
    p.add_argument("--data", help="data directory (default: $POSEFORGE_DATA or ~/.cache/poseforge)")

    def allow_subset(p: argparse.ArgumentParser) -> None:
        p.add_argument("--allow-subset", action="store_true",
                       help="accept reports on a subset of the image set (--limit, skipped images)")  # fmt: skip

    def speed_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--precision-hint",
            default="f32",
            choices=("f32", "bf16", "f16", "default"),
            help="OpenVINO INFERENCE_PRECISION_HINT (default f32; 'default' lets this CPU pick bf16)",
        )
        p.add_argument("--threads", type=THREADS, help="runtime threads (default: all cores)")
        p.add_argument("--seconds", type=SECONDS, default=10.0, help="throughput and end-to-end time (default 10)")

    p = command(
        "reference-ir", _cmd_reference_ir, "register the Open Model Zoo INT8 IR as the omz-int8 artifact",
        "Copy Intel's FP16-INT8 release with poseforge metadata in its rt_info (output names, static "
        "input, normalisation), proved to compute exactly what the original does.",
    )  # fmt: skip
    p.add_argument("ir", nargs="?", help="the IR .xml (default: the one in the data directory)")
    p.add_argument("--data", help="data directory (default: $POSEFORGE_DATA or ~/.cache/poseforge)")
    p.add_argument("-o", "--output", required=True, help="IR .xml to write (build/<model>/ir/omz-int8/model.xml)")

    p = command(
        "speed", _cmd_speed, "measure an artifact's speed at its deploy shape (256x456)",
        "Network latency (LATENCY hint, one request: median, p90), throughput (THROUGHPUT hint, async "
        "queue), decode time and end-to-end fps of the pipelined loop (read, letterbox, infer frame N+1 "
        "while decoding frame N) over the COCO images. Writes a JSON speed block that `validate --speed` reuses.",
    )  # fmt: skip
    p.add_argument("artifact", help="model.pth, an .onnx file or an IR .xml")
    p.add_argument("--coco", required=True, help="COCO directory (annotations/ and val2017/)")
    p.add_argument("-o", "--output", required=True, help="speed JSON to write")
    p.add_argument("--iterations", type=POSITIVE_INT, default=50, help="latency iterations after warm-up (default 50)")
    p.add_argument("--limit", type=POSITIVE_INT, help="use only the first N images for the end-to-end loop")
    speed_options(p)

    p = command(
        "validate", _cmd_validate, "COCO keypoint AP and speed of any artifact",
        "Run an artifact (model.pth with torch, .onnx with onnxruntime, IR .xml with OpenVINO CPU) over "
        "the COCO images under a protocol (val: height 368, bicubic, centre pad to a multiple of 8; deploy: "
        "the artifact's 256x456, letterbox), decode with the shared decoder, score with pycocotools. "
        "Writes reports/<artifact>-<protocol>.json and the pycocotools results under reports/results/.",
    )  # fmt: skip
    p.add_argument("artifact", help="model.pth, an .onnx file or an IR .xml")
    p.add_argument("--coco", required=True, help="COCO directory (annotations/person_keypoints_val2017.json, val2017/)")
    p.add_argument("--protocol", choices=PROTOCOLS, required=True)
    p.add_argument("--limit", type=POSITIVE_INT, help="only the first N images (by id): a subset report, which "
                   "report, baseline, bundle and gate refuse unless --allow-subset; needs -o")  # fmt: skip
    p.add_argument("--skip-bad-images", action="store_true", help="count undecodable images instead of stopping")
    p.add_argument("--resamples", type=_number(int, 10, 1_000_000), default=1000,
                   help="bootstrap resamples of the AP interval (default %(default)s)")  # fmt: skip
    p.add_argument("--speed", help="speed JSON from `poseforge speed` to include instead of measuring")
    p.add_argument("--no-speed", action="store_true", help="accuracy only")
    p.add_argument("-o", "--output", help="report to write (default build/<model>/reports/<artifact>-<protocol>.json)")
    speed_options(p)

    p = command(
        "compare", _cmd_compare, "the paired AP difference of two reports on the same images, with its interval",
        "Re-match both reports' pycocotools results once, then score both on the same bootstrap resamples of the "
        "images: AP of each with its interval, and the paired interval of AP(B) - AP(A). Only a paired interval "
        "that excludes 0 says that one is more accurate. Prints the timings of the matching and the resamples.",
    )  # fmt: skip
    p.add_argument("a", help="report A (reports/<artifact>-<protocol>.json)")
    p.add_argument("b", help="report B, scored on the same images")
    p.add_argument("--resamples", type=_number(int, 10, 1_000_000), default=1000,
                   help="bootstrap resamples (default %(default)s)")  # fmt: skip
    p.add_argument("--seed", type=SEED, default=0, help="resampling seed (default %(default)s)")
    p.add_argument("-o", "--output", help="also write the comparison as JSON")

    p = command("machine", _cmd_machine, "what this machine is: CPU, cores, ISA, what OpenVINO runs natively")
    p.add_argument("--supports", choices=("bf16", "fp16", "int8"),
                   help="exit 0 (printing yes) if OpenVINO runs this precision natively here, else 1")  # fmt: skip

    p = command("report", _cmd_report, "write report.md and report.png from a model's reports")
    p.add_argument("model_dir", help="build/<model> (reads its reports/*.json)")
    p.add_argument("--coco", help="COCO directory, for the example image with decoded skeletons")
    allow_subset(p)

    p = command(
        "bench", _cmd_bench, "the speed targets as ratios measured in one run (decoder, end-to-end, INT8)",
        "Decode the same network outputs with poseforge's decoder and with the upstream procedure "
        "(full-size bicubic upsampling then extraction), both protocols; compare decode time with the IR "
        "FP32 network latency and end-to-end with network throughput; measure the INT8 IR against the FP32 "
        "IR and Intel's release in interleaved rounds. Prints measured ratios; -o writes them for the gate.",
    )  # fmt: skip
    p.add_argument("model_dir", help="build/<model> (uses its IRs: fp32, and int8 and omz-int8 when present)")
    p.add_argument("--coco", required=True, help="COCO directory")
    p.add_argument("--limit", type=POSITIVE_INT, help="only the first N images")
    p.add_argument("--rounds", type=_number(int, 1, 100), default=3,
                   help="interleaved rounds of the INT8 comparison (default 3)")  # fmt: skip
    p.add_argument("-o", "--output", help="bench JSON to write (build/<model>/bench.json, read by the gate)")
    p.add_argument("--seconds", type=SECONDS, default=10.0, help="throughput and end-to-end time (default 10)")
    p = command(
        "init", _cmd_init, "write a random-init model.pth (NOT trained: for complexity and speed only)",
        "Build the network with seeded random weights (He-normal convolutions) and write the normalised "
        "checkpoint the export stage reads; its metadata says source kind random-init, trained false. "
        "The only way to get openpose-vgg19 weights here.",
    )  # fmt: skip
    p.add_argument("--model", required=True, help="network name, e.g. openpose-vgg19, lightweight-openpose")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--stages", type=STAGES, help="total stages, initial + refinement, as the paper counts them")
    p.add_argument("-o", "--output", required=True, help="checkpoint to write (model.pth)")

    p = command(
        "info", _cmd_info, "parameters and GMACs/GFLOPs per part of a network",
        "Count parameters and compute per part (backbone, CPM as conv4_3 / conv4_4, initial stage, each "
        "refinement stage) from the module itself: forward hooks on every convolution record its output "
        "shape. The paper's 'GFLOPs' are the GMACs column.",
    )  # fmt: skip
    p.add_argument("model", help="network name: lightweight-openpose, human-pose-estimation-0001, openpose-vgg19")
    p.add_argument("--input", default="368x368", help="input HxW (default %(default)s, the paper's tables)")
    p.add_argument("--stages", type=STAGES, help="total stages, initial + refinement (default: the model's own)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = command(
        "paper", _cmd_paper, "the paper's complexity and speed tables beside ours (paper.md)",
        "Tables 2 and 5 of Osokin 2018 (complexity per part at 368x368) beside our counts, and Table 6's "
        "network speed ratio measured here: every IR at 256x456 (HxW), FP32, precision hint f32, same "
        "threads, interleaved rounds; plus the INT8 IR and the refinement-stage sweep. Writes paper.md, "
        "paper.json and paper.png beside it.",
    )  # fmt: skip
    p.add_argument("--proposed", required=True, help="IR FP32 of the lightweight network")
    p.add_argument("--baseline", required=True, help="IR FP32 of the 2-stage openpose-vgg19")
    p.add_argument("--sweep", nargs="*", default=[], help="IRs FP32 of lightweight-openpose with 1..5 refinements")
    p.add_argument("--int8", help="INT8 IR of the lightweight network, when built")
    p.add_argument("--threads", type=THREADS, help="runtime threads for every network (default: all cores)")
    p.add_argument("--iterations", type=POSITIVE_INT, default=10, help="latency iterations per round (default 10)")
    p.add_argument("--seconds", type=SECONDS, default=3.0, help="throughput seconds per round (default 3)")
    p.add_argument("--rounds", type=_number(int, 1, 100), default=3, help="interleaved measurement rounds (default 3)")
    p.add_argument("-o", "--output", required=True, help="report to write (paper.md)")
    p = command(
        "quantize", _cmd_quantize, "INT8 IR from the FP32 IR with NNCF (optionally accuracy-controlled)",
        "Post-training quantization of the OpenVINO FP32 IR with nncf.quantize; calibration images from any "
        "folder, chosen without labels (by default those the FP32 network itself finds the most people on) and "
        "pre-processed as the deploy protocol. A calibration folder sharing images with --coco's validation "
        "images is refused unless --allow-overlap. With --max-drop, nncf.quantize_with_accuracy_control keeps "
        "layers in floating point until the INT8 poses agree with the FP32 network's own poses on the "
        "calibration images (OKS-AP, 1.0 for FP32 itself) within the drop: no label and no validation image is "
        "used. Settings, the calibration folder, images considered and used (names and sha256), the selection "
        "rule, float layers and heatmap peak retention go into rt_info.",
    )  # fmt: skip
    p.add_argument("source", help="the FP32 IR .xml")
    p.add_argument("-o", "--output", required=True, help="INT8 IR .xml to write")
    p.add_argument("--calib", required=True, help="folder of calibration images (e.g. $(DATA)/coco-calib/train2017)")
    p.add_argument("--coco", help="COCO directory the INT8 IR will be validated on: an overlap with --calib is refused")
    p.add_argument("--allow-overlap", action="store_true",
                   help="calibrate even on images of --coco's validation set (noted in rt_info: the AP is optimistic)")  # fmt: skip
    p.add_argument("--subset-size", type=int, default=300, help="calibration images used, at most (default %(default)s)")
    p.add_argument("--select", choices=("people", "name"), default="people",
                   help="which images calibrate: 'people' (default), those the FP32 network and the decoder find the "
                        "most people on, no labels needed; 'name', the first in name order")  # fmt: skip
    p.add_argument("--candidates", type=int, default=2000,
                   help="images of the folder considered for --select (the first N by name; default %(default)s, "
                        "0 for all)")  # fmt: skip
    p.add_argument("--preset", choices=("performance", "mixed"), default="mixed",
                   help="NNCF preset (default %(default)s: asymmetric activations, which the ELU and concat inputs "
                        "need)")  # fmt: skip
    p.add_argument("--fast-bias-correction", action=argparse.BooleanOptionalAction, default=True,
                   help="NNCF's fast bias correction, not the full one (default: fast)")  # fmt: skip
    p.add_argument("--range-estimator", default="minmax",
                   choices=("minmax", "nncf-default", "mean_minmax", "median_minmax", "mean_no_outliers_minmax",
                            "mean_quantile", "histogram"),
                   help="activation range estimator (default minmax: the averaging and quantile estimators clip "
                        "the heatmap peaks)")  # fmt: skip
    p.add_argument("--ignored-scope", action="append", default=[], metavar="KIND:VALUE",
                   help="keep in floating point: name:LAYER, pattern:REGEX or type:OPTYPE (repeatable)")  # fmt: skip
    p.add_argument("--ignore-heads", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the two output convolutions in floating point (default: yes)")  # fmt: skip
    p.add_argument("--ignore-concat", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the 1x1 convolution after the refinement stage's concat in floating point (default: "
                        "yes: the concat's unified scale leaves the heatmaps a few levels)")  # fmt: skip
    p.add_argument("--max-drop", type=float,
                   help="accuracy control: maximum drop of the INT8/FP32 pose agreement (OKS-AP against the FP32 "
                        "poses on the calibration images, 1.0 for FP32), e.g. 0.1")  # fmt: skip
    p.add_argument("--validation-limit", type=int,
                   help="accuracy control: measure the agreement on the first N calibration images only")  # fmt: skip
    p = command(
        "gate", _cmd_gate, "compare the latest reports with the committed baseline; non-zero exit on regression",
        "One table: expected, measured, delta, verdict for every artifact's AP under both protocols and for "
        "the speed ratios that matter. Fails closed: a missing report, a NaN, a different image count, "
        "protocol or annotation file than the baseline's is a failure.",
    )  # fmt: skip
    p.add_argument("model_dir", help="build/<model> (reads its reports/*.json)")
    p.add_argument("--baseline", required=True, help="baselines/<model>.json")
    allow_subset(p)

    p = command("baseline", _cmd_baseline, "rewrite the baseline from the latest reports, showing what changed")
    p.add_argument("model_dir", help="build/<model> (reads its reports/*.json)")
    p.add_argument("--baseline", required=True, help="baselines/<model>.json to write")
    allow_subset(p)

    p = command(
        "bundle", _cmd_bundle, "package an IR with its reports as a deployment bundle (.tar.gz)",
        "Write OUT.tar.gz holding model.xml/.bin (the IR taking u8 BGR NHWC [1,H,W,3] frames: type and "
        "layout conversion embedded with OpenVINO's PrePostProcessor, normalisation already in the graph) and "
        "bundle.json (schema in the README): specs, keypoint schema, decoder defaults, the AP and speed of "
        "REPORTS/<artifact>-{val,deploy}.json, versions, source and licence, sha256 of every file.",
    )  # fmt: skip
    p.add_argument("ir", help="IR .xml: ir/fp32, ir/fp16 or ir/int8 (build/<model>/ir/<precision>/model.xml)")
    p.add_argument("--reports", required=True, help="folder with the IR's validate reports (build/<model>/reports)")
    p.add_argument("-o", "--output", required=True, help="bundle to write (dist/<model>-<precision>.tar.gz)")
    allow_subset(p)
    p.add_argument("--allow-untrained", action="store_true",
                   help="bundle a random-init or untrained network (val AP below 0.01) anyway")  # fmt: skip

    p = command(
        "predict", _cmd_predict, "draw and write the poses a bundle finds in an image, a folder or a video",
        "Verify and load BUNDLE, letterbox every image or video frame to its deploy shape, infer asynchronously "
        "(later frames in flight while earlier ones are decoded with the shared decoder) and write to OUT: the "
        "images or video (.mp4) with skeletons drawn, poses.json (COCO keypoint results; image_id is the number "
        "a numeric file name holds, else the image's index in name order; for a video, the frame index) and "
        "predict.json (files, ids, fps). Needs only openvino, numpy and opencv.",
    )  # fmt: skip
    p.add_argument("bundle", help="bundle (.tar.gz from `poseforge bundle`)")
    p.add_argument("input", help="an image, a folder of images or a video file")
    p.add_argument("-o", "--output", required=True, help="folder to write (replaced only if a previous predict output)")
    p.add_argument("--skip-bad", action="store_true", help="skip undecodable images or video frames (listed in "
                   "predict.json) instead of stopping")  # fmt: skip
    p.add_argument("--precision-hint", default="f32", choices=("f32", "bf16", "f16", "default"),
                   help="OpenVINO INFERENCE_PRECISION_HINT (default f32; 'default': the CPU's choice)")  # fmt: skip
    p.add_argument("--threads", type=THREADS, help="runtime threads (default: all cores)")
    return parser


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so stages remove their temporary files.
    raise SystemExit(128 + signum)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as the one line every poseforge failure is."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"poseforge: error: {self.prog.removeprefix('poseforge').strip() or 'usage'}: {message} "
              f"(see {self.prog} --help)", file=sys.stderr)  # fmt: skip
        raise SystemExit(2)


DEBUG_ENV = "POSEFORGE_DEBUG"


def _unexpected(exc: BaseException, command: str) -> str:
    """One line for an exception that no stage turned into a PoseforgeError."""
    if isinstance(exc, OSError) and exc.filename:
        return f"{command}: {exc.strerror or exc} ({exc.filename})"
    if isinstance(exc, MemoryError):
        return f"{command}: out of memory"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = lines[-1][:300] if lines else ""
    return f"{command}: {type(exc).__name__}" + (f": {detail}" if detail else "")


_INPUTS = ("source", "checkpoint", "ir", "artifact", "bundle", "input", "calib")


def check_output_is_not_an_input(args: argparse.Namespace) -> None:
    """`-o` may not name a file the command reads (an IR's .bin included): it would be replaced."""
    output = getattr(args, "output", None)
    if not output:
        return
    out = Path(output).resolve()
    for name in _INPUTS:
        value = getattr(args, name, None)
        if value and out in {Path(value).resolve(), Path(value).resolve().with_suffix(".bin")}:
            raise PoseforgeError(f"-o {output} is the command's own input {value}: choose another output")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if threading_main():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        check_output_is_not_an_input(args)
        args.func(args)
    except PoseforgeError as exc:
        if debug:
            traceback.print_exc()
        print(f"poseforge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("poseforge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback unless asked
        if debug:
            traceback.print_exc()
        hint = "" if debug else f" (--debug or {DEBUG_ENV}=1 shows where)"
        print(f"poseforge: error: {_unexpected(exc, args.command)}{hint}", file=sys.stderr)
        return 1
    return 0


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())

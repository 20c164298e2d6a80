"""Commands of the convert stage: checkpoint -> model.pth -> ONNX -> simplified ONNX -> IR, and parity."""

from __future__ import annotations

import argparse
from pathlib import Path

from poseforge.cli.common import POSITIVE_INT, SEED, STAGE_COUNT, Command, add_data, add_output, wrote
from poseforge.errors import PoseforgeError


def _checkpoint_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="the PyTorch checkpoint (.pth)")
    p.add_argument("--model", default="lightweight-openpose", help="network name")
    add_output(p, "normalised checkpoint to write (model.pth)")


def _checkpoint(args: argparse.Namespace) -> None:
    from poseforge.models.checkpoint import import_checkpoint, save_checkpoint

    ckpt = import_checkpoint(args.model, args.source)
    save_checkpoint(ckpt, args.output)
    wrote(args.output, f"{args.model}, {ckpt.config}, source sha256 {ckpt.metadata['source']['sha256'][:12]}")


def _import_ir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ir", nargs="?", help="the IR .xml (default: the one in the data directory)")
    add_data(p)
    add_output(p, "normalised checkpoint to write (model.pth)")


def _import_ir(args: argparse.Namespace) -> None:
    from poseforge.convert.ir_import import import_ir, verify_against_ir
    from poseforge.fetch import omz_ir
    from poseforge.ir_files import read_ir
    from poseforge.models.checkpoint import save_checkpoint

    source = Path(args.ir) if args.ir else omz_ir(args.data)
    ckpt = import_ir(source)
    diff = verify_against_ir(ckpt, read_ir(source))
    save_checkpoint(ckpt, args.output)
    wrote(args.output, f"{ckpt.model} imported from {source.name}, matches the IR with activation FakeQuantize "
                       f"bypassed within {diff:.2g} (max abs, probe input)")  # fmt: skip


def _init_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="network name, e.g. openpose-vgg19, lightweight-openpose")
    p.add_argument("--seed", type=SEED, default=0, help="random seed")
    p.add_argument("--stages", type=STAGE_COUNT, help="total stages, initial + refinement, as the paper counts them")
    add_output(p, "checkpoint to write (model.pth)")


def _init(args: argparse.Namespace) -> None:
    from poseforge.analysis.complexity import stages_config
    from poseforge.models.checkpoint import random_checkpoint, save_checkpoint

    ckpt = random_checkpoint(args.model, args.seed, stages_config(args.model, args.stages))
    save_checkpoint(ckpt, args.output)
    wrote(args.output, f"{args.model}, {ckpt.config}, random-init seed {args.seed}: NOT trained")


def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="normalised checkpoint (model.pth)")
    add_output(p, "ONNX file to write")


def _export(args: argparse.Namespace) -> None:
    from poseforge.convert.onnx_export import OPSET, export_onnx

    export_onnx(args.checkpoint, args.output)
    wrote(args.output, f"ONNX opset {OPSET}, input data [1,3,H,W] raw BGR, outputs heatmaps, pafs")


def _simplify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="ONNX file from `export`")
    add_output(p, "simplified ONNX file to write")


def _simplify(args: argparse.Namespace) -> None:
    from poseforge.convert.simplify import simplify_onnx

    simplify_onnx(args.source, args.output)
    wrote(args.output)


def _convert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="ONNX file")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="weights precision")
    add_output(p, "IR .xml to write (the .bin goes beside it)")


def _convert(args: argparse.Namespace) -> None:
    from poseforge.convert.ir import convert_ir

    convert_ir(args.source, args.output, args.precision)
    wrote(args.output, f"+ .bin, OpenVINO IR {args.precision.upper()}")


def _reference_ir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ir", nargs="?", help="the IR .xml (default: the one in the data directory)")
    add_data(p)
    add_output(p, "IR .xml to write (build/<model>/ir/omz-int8/model.xml)")


def _reference_ir(args: argparse.Namespace) -> None:
    from poseforge.convert.ir_import import register_reference_ir
    from poseforge.fetch import omz_ir

    source = Path(args.ir) if args.ir else omz_ir(args.data)
    register_reference_ir(source, args.output)
    wrote(args.output, "the Open Model Zoo INT8 release with poseforge metadata (outputs identical)")


def _parity_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="build/<model>")
    p.add_argument("--images", help="folder of images to compare on (e.g. $POSEFORGE_DATA/coco-val/val2017)")
    p.add_argument("--limit", type=POSITIVE_INT, default=8, help="images to use")
    p.add_argument("--golden", help="npz with an `input` tensor normalised as (x-128)/256 (upstream fixture)")
    p.add_argument("--omz-ir", help="also compare with this Open Model Zoo INT8 IR and its FP32 reference")


def _parity(args: argparse.Namespace) -> None:
    from poseforge.convert.parity import run_parity

    failures = run_parity(args.model_dir, args.images, args.limit, args.golden, args.omz_ir)
    if failures:
        raise PoseforgeError(f"parity failed: {'; '.join(failures)}")


COMMANDS = (
    Command("checkpoint", "convert", "normalise a PyTorch checkpoint into model.pth", _checkpoint_arguments,
            _checkpoint, "Read a checkpoint written by the upstream train.py (or a bare state_dict) with "
            "torch.load(weights_only=True), check every key and shape against the network, and write the "
            "normalised checkpoint every later stage starts from."),
    Command("import-ir", "convert", "import the Open Model Zoo IR's weights into model.pth", _import_ir_arguments,
            _import_ir, "Read the human-pose-estimation-0001 FP16-INT8 IR, check its topology, dequantize every "
            "convolution's weights in float64, take biases and input normalisation, verify that the PyTorch "
            "network reproduces the IR (activation FakeQuantize bypassed), write model.pth."),
    Command("init", "convert", "write a random-init model.pth (NOT trained: for complexity and speed only)",
            _init_arguments, _init, "Build the network with seeded random weights and write the normalised "
            "checkpoint the export stage reads; its metadata says source kind random-init, trained false. "
            "The only way to get openpose-vgg19 weights here."),
    Command("export", "convert", "export model.pth to ONNX (opset 18, dynamic H and W)", _export_arguments,
            _export),
    Command("simplify", "convert", "simplify an ONNX model with onnxsim, checked", _simplify_arguments, _simplify),
    Command("convert", "convert", "convert (simplified) ONNX to an OpenVINO IR, FP32 or FP16", _convert_arguments,
            _convert),
    Command("reference-ir", "convert", "register the Open Model Zoo INT8 IR as the omz-int8 artifact",
            _reference_ir_arguments, _reference_ir, "Copy Intel's FP16-INT8 release with poseforge metadata in its "
            "rt_info (output names, static input, normalisation), proved to compute exactly what the original does."),
    Command("parity", "convert", "print how closely every artifact follows the PyTorch checkpoint",
            _parity_arguments, _parity, "Run every artifact in MODEL_DIR (the INT8 IR included) on the same inputs "
            "and print max abs difference and cosine (each output over every input as one vector) of heatmaps and "
            "pafs against torch. Exits non-zero when an artifact is outside its tolerance (poseforge.artifacts: "
            "max abs 1e-4, IR FP16 2e-2; IR INT8 cosine >= 0.97, on images that hold people). With --omz-ir, "
            "Intel's INT8 release is shown, not judged: it computes with its activation FakeQuantize, so it does "
            "not match FP32."),
)  # fmt: skip

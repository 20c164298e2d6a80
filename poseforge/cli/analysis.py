"""Commands of analysis: complexity per part, and the paper's tables beside ours."""

from __future__ import annotations

import argparse

from poseforge.cli.common import POSITIVE_INT, ROUNDS, SECONDS, STAGE_COUNT, THREADS, Command, add_output, wrote


def _info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="network name: lightweight-openpose, human-pose-estimation-0001, openpose-vgg19")
    p.add_argument("--input", default="368x368", help="input HxW (the paper's tables use 368x368)")
    p.add_argument("--stages", type=STAGE_COUNT, help="total stages, initial + refinement (default: the model's own)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _info(args: argparse.Namespace) -> None:
    from poseforge.analysis.complexity import parse_input
    from poseforge.analysis.info import print_info

    print_info(args.model, parse_input(args.input), args.stages, args.json)


def _paper_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--proposed", required=True, help="IR FP32 of the lightweight network")
    # dest baseline_ir: `baseline` is the gate's --baseline, a JSON that `poseforge baseline` updates
    p.add_argument("--baseline", dest="baseline_ir", metavar="BASELINE", required=True,
                   help="IR FP32 of the 2-stage openpose-vgg19")  # fmt: skip
    p.add_argument("--sweep", nargs="*", default=[], help="IRs FP32 of lightweight-openpose with 1..5 refinements")
    p.add_argument("--int8", help="INT8 IR of the lightweight network, when built")
    p.add_argument("--threads", type=THREADS, help="runtime threads for every network (default: all cores)")
    p.add_argument("--iterations", type=POSITIVE_INT, default=10, help="latency iterations per round")
    p.add_argument("--seconds", type=SECONDS, default=3.0, help="throughput seconds per round")
    p.add_argument("--rounds", type=ROUNDS, default=3, help="interleaved measurement rounds")
    add_output(p, "report to write (paper.md)")


def _paper(args: argparse.Namespace) -> None:
    from poseforge.analysis.paper import measure_paper, paper_outputs, write_paper
    from poseforge.fileio import claim

    for target in paper_outputs(args.output):  # all refused before any work (an IR it measures included)
        claim(target)
    doc = measure_paper(args.proposed, args.baseline_ir, args.sweep, args.int8, args.threads, args.iterations,
                        args.seconds, args.rounds)  # fmt: skip
    for path in write_paper(args.output, doc):
        wrote(path)


COMMANDS = (
    Command("info", "analysis", "parameters and GMACs/GFLOPs per part of a network", _info_arguments, _info,
            "Count parameters and compute per part (backbone, CPM as conv4_3 / conv4_4, initial stage, each "
            "refinement stage) from the module itself: forward hooks on every convolution record its output shape. "
            "The paper's 'GFLOPs' are the GMACs column."),
    Command("paper", "analysis", "the paper's complexity and speed tables beside ours (paper.md)", _paper_arguments,
            _paper, "Tables 2 and 5 of Osokin 2018 (complexity per part at 368x368) beside our counts, and Table "
            "6's network speed ratio measured here: every IR at 256x456 (HxW), FP32, precision hint f32, same "
            "threads, interleaved rounds; plus the INT8 IR and the refinement-stage sweep. Writes paper.md, "
            "paper.json and paper.png beside it."),
)  # fmt: skip

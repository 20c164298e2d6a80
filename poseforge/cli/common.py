"""What every command shares: the command table's entry, number types, common options, output lines.

A command module declares `COMMANDS`, each a `Command` with the stage it belongs to, its help,
`add_arguments(parser)` and `run(args)`. Options that mean the same thing everywhere are added
here once (`add_runtime`, `add_data`, `add_coco`, `add_allow_subset`, `add_skip_bad`), so the
same idea has the same name in every command, and `wrote()` is the one place that prints what a
command wrote.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.documents import MAX_REFINEMENT_STAGES, MAX_REPORT_RESAMPLES
from poseforge.text import printable

# The pipeline's stages, in the order `poseforge --help` lists their commands.
STAGES = {
    "data": "the data directory",
    "convert": "checkpoint -> ONNX -> IR",
    "quantize": "INT8",
    "validate": "accuracy and speed",
    "gate": "regression gate",
    "deploy": "bundles and prediction",
    "analysis": "the paper's tables",
}


@dataclass(frozen=True)
class Command:
    name: str
    stage: str  # a key of STAGES
    help: str  # one line, for `poseforge --help`
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]
    description: str = ""  # the command's own --help (default: `help`)


def number(kind: type, low: float, high: float = math.inf, above: bool = False) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` in [low, high] (`above`: > low), else a one-line usage error."""

    def parse(text: str) -> Any:
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


POSITIVE_INT = number(int, 1, 1_000_000)
THREADS = number(int, 1, 1024)
SECONDS = number(float, 0, 24 * 3600, above=True)
SEED = number(int, 0, 2**32 - 1)
STAGE_COUNT = number(int, 1, MAX_REFINEMENT_STAGES + 1)
RESAMPLES = number(int, 10, 1_000_000)
REPORT_RESAMPLES = number(int, 10, MAX_REPORT_RESAMPLES)  # a report's: every reader bootstraps it again
ROUNDS = number(int, 1, 100)


def _height(text: str) -> int:
    """An argparse type: a native input height (artifacts.check_height), else a one-line usage error."""
    from poseforge.artifacts import check_height
    from poseforge.errors import PoseforgeError

    try:
        return check_height(number(int, -(2**31), 2**31)(text), "height")
    except PoseforgeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


HEIGHT = _height


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="data directory (default: $POSEFORGE_DATA, else ~/.cache/poseforge)")


def add_coco(p: argparse.ArgumentParser, what: str = "COCO directory (annotations/ and val2017/)") -> None:
    add_data(p)
    p.add_argument("--coco", help=f"{what} (default: DATA/coco-val)")


def coco_dir(args: argparse.Namespace) -> Path:
    """--coco, else the data directory's default image set."""
    from poseforge.fetch import data_dir

    return Path(args.coco) if args.coco else data_dir(args.data) / "coco-val"


def add_runtime(p: argparse.ArgumentParser, seconds: float | None = 10.0, threads: str = "all cores",
                auto: bool = False) -> None:  # fmt: skip
    """The options every command that runs a network takes (see runtime.options.RuntimeOptions);
    `threads` says what happens without --threads; `auto`: a bundle's command, whose hint defaults to
    what the bundle validated on this machine class."""
    if auto:
        p.add_argument("--precision-hint", default="auto", choices=("auto", "f32", "bf16", "f16", "default"),
                       help="OpenVINO INFERENCE_PRECISION_HINT ('auto', the default: the fastest the bundle validated "
                       "within tolerance of f32 on this machine class, bf16 for FP32 on AMX, else f32; 'default': "
                       "the device's own choice)")  # fmt: skip
    else:
        p.add_argument(
            "--precision-hint",
            default="f32",
            choices=("f32", "bf16", "f16", "default"),
            help="OpenVINO INFERENCE_PRECISION_HINT ('default': the CPU's choice, bf16 if it can)",
        )
    p.add_argument("--device", default="CPU", type=device,
                   help="OpenVINO device: CPU, AUTO (the plugin picks), GPU, NPU (GPU.1: one of several); an IR or a "
                   "bundle")  # fmt: skip
    p.add_argument("--threads", type=THREADS, help=f"runtime threads of the CPU (default: {threads})")
    if seconds is not None:
        p.add_argument("--seconds", type=SECONDS, default=seconds, help="throughput and end-to-end time per run")


def device(text: str) -> str:
    """An argparse type: a device name, upper-cased as OpenVINO spells it."""
    from poseforge.errors import PoseforgeError
    from poseforge.runtime.options import RuntimeOptions

    try:
        return RuntimeOptions(device=text.upper()).device
    except PoseforgeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def runtime_options(args: argparse.Namespace, **changes: Any) -> Any:
    from poseforge.runtime.options import RuntimeOptions

    hint = None if args.precision_hint == "default" else args.precision_hint
    return RuntimeOptions(device=args.device, precision_hint=hint, threads=args.threads, **changes)


def add_ray(p: argparse.ArgumentParser, what: str) -> None:
    """--ray [ADDRESS]: run on Ray (the cluster extra); without an address, a local Ray started and stopped here."""
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help=f"{what} on Ray (the cluster extra): no ADDRESS (or 'local') starts a Ray of this "
                   "machine's cores and stops it after; 'auto', HOST:PORT or ray://HOST:PORT joins a running "
                   "cluster")  # fmt: skip


def add_allow_subset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-subset", action="store_true",
                   help="accept reports on a subset of the image set (--limit, skipped images)")  # fmt: skip


def add_skip_bad(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-bad", action="store_true",
                   help="go on past undecodable images or video frames, counting them, not stopping")  # fmt: skip


def add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust", action="append", metavar="KEY.pub",
                   help="refuse the bundle unless it is signed by this public key (from `poseforge keygen`; "
                   "repeatable: any one of them)")  # fmt: skip


def _output(text: str) -> str:
    """An argparse type: a path to write (an empty one names nothing; `if args.output` took it for none)."""
    if not text:
        raise argparse.ArgumentTypeError("'' names no file or folder to write")
    return text


def add_output(p: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    p.add_argument("-o", "--output", type=_output, required=required, help=what)


def wrote(path: str | Path, detail: str = "") -> None:
    """The one line a command prints for each file or folder it wrote."""
    print(printable(f"wrote {path}" + (f": {detail}" if detail else "")))

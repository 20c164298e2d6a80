"""`poseforge`: one subcommand per pipeline stage, built from the command modules' tables.

Each module (convert, quantize, validate, gate, deploy, data, analysis) lists its commands;
this one builds the parser from them, and is the boundary where every failure becomes one
line on stderr and a non-zero exit. Heavy libraries (torch, openvino, nncf) are imported
inside the commands that use them, so `poseforge --help` is instant and `predict` needs no torch.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from poseforge.cli import analysis, convert, data, deploy, gate, quantize, validate
from poseforge.cli.common import STAGES, Command
from poseforge.errors import PoseforgeError

COMMANDS: tuple[Command, ...] = (
    *data.COMMANDS,
    *convert.COMMANDS,
    *quantize.COMMANDS,
    *validate.COMMANDS,
    *gate.COMMANDS,
    *deploy.COMMANDS,
    *analysis.COMMANDS,
)
DEBUG_ENV = "POSEFORGE_DEBUG"
# What the `convert` extra installs (pyproject.toml): a command needing one of them says so.
CONVERT_EXTRA = ("torch", "onnx", "onnxscript", "onnxsim", "onnxruntime", "nncf", "pycocotools", "matplotlib")
# Arguments naming files a command reads: `-o` may not be one of them.
_INPUTS = ("source", "checkpoint", "ir", "artifact", "bundle", "input", "calib", "a", "b", "speed", "video",
           "reference", "extra")  # fmt: skip
_OPTION_INPUTS = ("calib", "speed", "video", "reference")  # the others are positional (extra: --artifact)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default shown in --help (unless its help already says it, or there is none);
    descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "(default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as the one line every poseforge failure is."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("poseforge").strip() or "usage"
        print(f"poseforge: error: {command}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def description() -> str:
    """The top-level help: every command of the table, grouped by pipeline stage."""
    lines = [
        "Lightweight OpenPose from a PyTorch checkpoint to verified, fast OpenVINO deployment artifacts.",
        "Each command reads files and writes files (see the README's pipeline); `make all` runs the chain.",
        "",
    ]
    width = max(len(c.name) for c in COMMANDS)
    for stage, title in STAGES.items():
        lines.append(f"{stage} ({title}):")
        lines += [f"  {c.name.ljust(width)}  {c.help}" for c in COMMANDS if c.stage == stage]
    lines += ["", "Data (weights, COCO) is found in --data, else $POSEFORGE_DATA, else ~/.cache/poseforge."]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from poseforge import __version__

    parser = _Parser(prog="poseforge", description=description(), formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"poseforge {__version__}")
    parser.add_argument("--debug", action="store_true", help=f"print the traceback of a failure (or {DEBUG_ENV}=1)")
    # The commands are listed by stage in the description; argparse's own flat list is left out.
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser,
                                help=argparse.SUPPRESS)  # fmt: skip
    for command in COMMANDS:
        p = sub.add_parser(command.name, description=command.description or command.help, formatter_class=_Formatter)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def check_output_is_not_an_input(args: argparse.Namespace) -> None:
    """`-o` may not name a file the command reads (an IR's .bin included): it would be replaced."""
    output = getattr(args, "output", None)
    if not output:
        return
    out = Path(output).resolve()
    for name in _INPUTS:
        given = getattr(args, name, None)
        for value in given if isinstance(given, list) else [given]:  # a repeatable option: each (name, path)
            value = value[1] if isinstance(value, tuple) else value
            if value and out in {Path(value).resolve(), Path(value).resolve().with_suffix(".bin")}:
                option = {"extra": "--artifact"}.get(name, f"--{name}" if name in _OPTION_INPUTS else name)
                raise PoseforgeError(f"-o {output} is the command's own input ({option} {value}): choose another "
                                     "output")  # fmt: skip


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so stages remove their temporary files.
    raise SystemExit(128 + signum)


def _unexpected(exc: BaseException, command: str) -> str:
    """One line for an exception that no stage turned into a PoseforgeError."""
    if isinstance(exc, OSError) and exc.filename:
        return f"{command}: {exc.strerror or exc} ({exc.filename})"
    if isinstance(exc, MemoryError):
        return f"{command}: out of memory"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = lines[-1][:300] if lines else ""
    return f"{command}: {type(exc).__name__}" + (f": {detail}" if detail else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        check_output_is_not_an_input(args)
        args.run(args)
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
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in CONVERT_EXTRA:
            print(f"poseforge: error: {args.command} needs {exc.name}, part of the conversion side: "
                  f"pip install 'poseforge[convert]' (or `make setup`)", file=sys.stderr)  # fmt: skip
            return 1
        hint = "" if debug else f" (--debug or {DEBUG_ENV}=1 shows where)"
        print(f"poseforge: error: {_unexpected(exc, args.command)}{hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

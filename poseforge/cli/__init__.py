"""`poseforge`: one subcommand per pipeline stage, built from the command modules' tables.

Each module (convert, quantize, validate, gate, deploy, data, analysis) lists its commands;
this one builds the parser from them, and is the boundary where every failure becomes one
line on stderr and a non-zero exit. Heavy libraries (torch, openvino, nncf) are imported
inside the commands that use them, so `poseforge --help` is instant and `predict` needs no torch.

Exit codes: 0 done, 1 a failure (one line), 2 a usage error, 130 Ctrl-C, 143 SIGTERM (at any
point, the interpreter's shutdown included), 141 stdout closed by its reader (`| head`): the
command stops quietly, as a Unix tool killed by SIGPIPE does, and what it had not yet written
is not written (outputs are renamed into place only when complete).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from poseforge.cli import analysis, convert, data, deploy, gate, quantize, validate
from poseforge.cli.common import STAGES, Command
from poseforge.errors import PoseforgeError
from poseforge.fileio import check_not_an_input, command_files, reading
from poseforge.text import printable

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
# Arguments naming files a command reads, as an error shows them: no output of the command may be one.
# Not the gate's --baseline: `poseforge baseline` updates that file (read first, on purpose).
_INPUTS = {"source": "source", "checkpoint": "checkpoint", "ir": "ir", "artifact": "artifact", "bundle": "bundle",
           "input": "input", "a": "a", "b": "b", "calib": "--calib", "speed": "--speed", "video": "--video",
           "reference": "--reference", "extra": "--artifact", "proposed": "--proposed", "baseline_ir": "--baseline",
           "int8": "--int8", "sweep": "--sweep", "fp32": "--fp32", "golden": "--golden", "omz_ir": "--omz-ir",
           "settings": "settings"}  # fmt: skip


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
        print(printable(f"poseforge: error: {command}: {message} (see {self.prog} --help)"), file=sys.stderr)
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
    """Note the files the arguments name as the command's inputs (an IR's .bin included; fileio.reading:
    no output of the command may replace one), and refuse an `-o` that is one of them now."""
    for name, option in _INPUTS.items():
        given = getattr(args, name, None)
        for value in given if isinstance(given, list) else [given]:  # a repeatable option: each (name, path)
            value = value[1] if isinstance(value, tuple) else value
            if value:
                reading(value, f"{option} {value}")
                if Path(value).suffix == ".xml":
                    reading(Path(value).with_suffix(".bin"), f"{option} {value}")
    if output := getattr(args, "output", None):
        check_not_an_input(Path(output), f"-o {output}")


SIGPIPE_EXIT = 128 + 13  # what a shell reports for a writer whose reader went away
_STATE = {"returned": False}  # main() has returned: the interpreter is shutting down


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so stages remove their temporary files.
    # Once main() has returned, nothing is left to clean up, and an exception raised during the
    # interpreter's shutdown (joining threads) would be printed as "ignored" and the exit be 0.
    if _STATE["returned"]:
        _exit_now(128 + signum)
    raise SystemExit(128 + signum)


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _ignore_our_exit(hook: object) -> object:
    """sys.unraisablehook that keeps quiet about our own SIGTERM exit raised where Python can only
    ignore it (a finaliser): the exit code is kept and returned by main()."""

    def unraisable(info: object) -> None:
        value = getattr(info, "exc_value", None)
        if isinstance(value, SystemExit) and value.code == 128 + signal.SIGTERM:
            _STATE["pending"] = value.code
            return
        hook(info)  # type: ignore[operator]

    unraisable.poseforge = True  # type: ignore[attr-defined]
    return unraisable


def _stdout_closed() -> bool:
    """True if stdout is a pipe whose reader has gone (`poseforge info | head`)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _closed_pipe() -> int:
    # Later writes (the interpreter's own flush at exit) go nowhere instead of raising again.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return SIGPIPE_EXIT


def _unexpected(exc: BaseException, command: str) -> str:
    """One line for an exception that no stage turned into a PoseforgeError."""
    if isinstance(exc, OSError) and exc.filename:
        return f"{command}: {exc.strerror or exc} ({exc.filename})"
    if isinstance(exc, MemoryError):
        return f"{command}: out of memory"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = lines[-1][:300] if lines else ""
    return f"{command}: {type(exc).__name__}" + (f": {detail}" if detail else "")


def _error(line: str) -> None:
    """The one line of a failure, escaped: a name holding a newline or a terminal escape stays on it."""
    with contextlib.suppress(OSError, ValueError):
        print(printable(f"poseforge: error: {line}"), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    _STATE["returned"] = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        if not getattr(sys.unraisablehook, "poseforge", False):
            sys.unraisablehook = _ignore_our_exit(sys.unraisablehook)
    try:
        code = _run(argv)
        return _STATE.pop("pending", code)
    finally:
        _STATE["returned"] = True


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:
        return _closed_pipe()
    except SystemExit as exc:  # --help or --version: argparse ignores a closed pipe and exits 0
        if exc.code == 0 and _stdout_closed():
            return _closed_pipe()
        raise
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        with command_files():
            check_output_is_not_an_input(args)
            args.run(args)
        sys.stdout.flush()  # now, not at exit: a closed pipe is seen here
    except PoseforgeError as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        print("poseforge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback unless asked
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            return _closed_pipe()
        if debug:
            traceback.print_exc()
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in CONVERT_EXTRA:
            _error(f"{args.command} needs {exc.name}, part of the conversion side: "
                   "pip install 'poseforge[convert]' (or `make setup`)")  # fmt: skip
            return 1
        hint = "" if debug else f" (--debug or {DEBUG_ENV}=1 shows where)"
        _error(f"{_unexpected(exc, args.command)}{hint}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

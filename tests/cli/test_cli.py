"""The CLI is thin and fast: one table of commands, grouped by stage in --help, every option's
default shown, usage errors as one line, and no heavy library imported for --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from poseforge.cli import COMMANDS, build_parser, description
from poseforge.cli.common import STAGES
from tests.conftest import run_cli

HEAVY = ("torch", "openvino", "nncf", "onnx", "onnxruntime", "cv2", "matplotlib")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from poseforge.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_parser_is_the_table_and_help_lists_it_by_stage() -> None:
    parser_commands = build_parser()._subparsers._group_actions[0].choices
    assert list(parser_commands) == [c.name for c in COMMANDS]
    assert {c.stage for c in COMMANDS} == set(STAGES)
    text = description()
    for command in COMMANDS:
        stage_line = text.index(f"{command.stage} ({STAGES[command.stage]}):")
        assert text.index(f"  {command.name} ") > stage_line, command.name
    result = run_cli("--help")
    assert result.returncode == 0 and all(f"  {c.name} " in result.stdout for c in COMMANDS)


@pytest.mark.slow
def test_every_command_explains_itself_with_its_defaults() -> None:
    for command in COMMANDS:
        result = run_cli(command.name, "--help")
        assert result.returncode == 0 and "usage: poseforge " + command.name in result.stdout
    assert "(default: 1000)" in run_cli("validate", "--help").stdout
    assert "(default: f32)" in run_cli("validate", "--help").stdout
    assert "'auto', the default" in " ".join(run_cli("predict", "--help").stdout.split())


def test_usage_errors_are_one_line(tmp_path) -> None:
    for argv in (["validate", "x.xml", "--protocol", "val", "--threads", "0"], ["no-such-command"], ["speed"]):
        result = run_cli(*argv)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("poseforge: error:") and "Traceback" not in result.stderr


def test_wrong_artifact_kind_is_a_one_line_error(tmp_path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_text("not onnx")
    result = run_cli("simplify", str(bogus), "-o", str(tmp_path / "out.onnx"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("poseforge: error:")
    assert not (tmp_path / "out.onnx").exists()

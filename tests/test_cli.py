"""The CLI is thin and fast: --help imports no heavy library, and every subcommand explains itself."""

from __future__ import annotations

import subprocess
import sys

from poseforge.cli import build_parser
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


def test_every_subcommand_has_help() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"checkpoint", "import-ir", "export", "simplify", "convert", "parity", "fetch"} <= set(commands)
    for name in commands:
        result = run_cli(name, "--help")
        assert result.returncode == 0 and "usage: poseforge " + name in result.stdout


def test_wrong_artifact_kind_is_a_one_line_error(tmp_path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_text("not onnx")
    result = run_cli("simplify", str(bogus), "-o", str(tmp_path / "out.onnx"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("poseforge: error:")
    assert not (tmp_path / "out.onnx").exists()

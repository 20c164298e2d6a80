"""Class 10, text run as code: what make is given (a path, a branch name in CI) reaches poseforge as
text. A value holding backticks, quotes or other shell syntax is used literally, as the path it
names; one that make itself would expand or split ($, whitespace, ; or |) is refused in one line
before anything runs. Either way no command hidden in a value ever runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

UPSTREAM = "upstream/lwop_random_checkpoint.pth"


def make(*args: str, **variables: str) -> subprocess.CompletedProcess:
    """`make` in the repository with `variables` on its command line, as CI gives them."""
    command = ["make", "--no-print-directory", "-C", str(REPO), *args, *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_shell_syntax_in_make_variables_is_used_literally(assets: Path, tmp_path: Path) -> None:
    """`make checkpoint BUILD='...`cmd`...'` ran the command: every variable reached the shell unquoted."""
    marker = tmp_path / "ran"
    code = f"`id>{marker}`'\"&<x>!"  # creates `marker` if a shell ever reads it as code
    checkpoint = Path(f"{tmp_path}/c{code}.pth")
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(assets / UPSTREAM, checkpoint)
    build = Path(f"{tmp_path}/b{code}")
    result = make("checkpoint", MODEL="lightweight-openpose", CHECKPOINT=str(checkpoint), BUILD=str(build),
                  DATA=str(assets))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "a command in a make variable ran"
    assert (build / "lightweight-openpose" / "model.pth").is_file()  # the path, exactly as given


# name -> (variable, value with {marker} for the file a command would create), refused by make before anything runs
REFUSED: dict[str, tuple[str, str]] = {
    "$(shell ...) in BUILD": ("BUILD", "b$(shell id>{marker})"),
    "$(...) in DATA": ("DATA", "d$(id>{marker})"),
    "${...} in MODEL": ("MODEL", "m${{IFS}}"),
    "a space in BUILD": ("BUILD", "my build"),
    "; in DIST": ("DIST", "d;id>{marker}"),
    "| in CHECKPOINT": ("CHECKPOINT", "c|id>{marker}"),
    "a line break in QUANTIZE_OPTS": ("QUANTIZE_OPTS", "--x\nall: ; id>{marker}"),
    "$ in SPEED_SECONDS": ("SPEED_SECONDS", "1$(shell id>{marker})"),
    "; in HEIGHTS": ("HEIGHTS", "320;id>{marker}"),  # a height becomes a target's name: only digits
    "a word in HEIGHTS": ("HEIGHTS", "320 tall"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_make_cannot_take_literally_is_refused(case: str, tmp_path: Path) -> None:
    """Refused by make before it expands anything: no recipe runs (not even clean)."""
    variable, value = REFUSED[case]
    marker = tmp_path / "ran"
    build = tmp_path / "build"
    variables = {"BUILD": str(build), "DIST": str(tmp_path / "dist"), variable: value.format(marker=marker)}
    result = make("checkpoint", "clean", **variables)  # clean: rm -f of what it names
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"poseforge: error: {variable}=" in lines[0] and "refused, nothing run" in lines[0]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing made, and no command ran

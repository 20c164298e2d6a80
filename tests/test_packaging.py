"""Building the package in a clone keeps setuptools' output out of build/, which is make's artifact folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_pip_wheel_in_the_clone_leaves_build_to_make(tmp_path: Path) -> None:
    """`pip install .` wrote setuptools' build/lib into build/ (setup.cfg's [build] build_base moves it)."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, clone / name)
    shutil.copytree(REPO / "poseforge", clone / "poseforge", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             "--no-index", "-w", str(tmp_path / "wheels"), str(clone)], capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert [p.name for p in (tmp_path / "wheels").iterdir()] == ["poseforge-0.1.0-py3-none-any.whl"]
    assert not (clone / "build").exists() and (clone / ".setuptools-build").is_dir()

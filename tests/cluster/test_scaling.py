"""bench-scaling: its output is claimed before the minutes of measuring, not after them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_an_output_it_may_not_replace_is_refused_before_measuring(omz_build: Path, tmp_path: Path) -> None:
    mine = tmp_path / "scaling.json"
    mine.write_text("the user's own")
    result = run_cli("bench-scaling", str(omz_build / "ir" / "fp32" / "model.xml"), "-o", str(mine), cwd=tmp_path)
    assert result.returncode == 1 and "was not written by poseforge" in result.stderr, result.stderr
    assert "single process" not in result.stdout  # nothing was measured
    assert mine.read_text() == "the user's own"

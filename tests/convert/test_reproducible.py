"""The chain is byte-reproducible: the same inputs, built again from scratch, give the same bytes of
model.pth, the ONNX files and the IRs (so every sha256 downstream means a change of content)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import IR_CHAIN, run_make


@pytest.mark.slow
def test_a_rebuild_gives_the_same_bytes(omz_build: Path, assets: Path, tmp_path: Path) -> None:
    result = run_make("ir", BUILD=str(tmp_path), DATA=str(assets))
    assert result.returncode == 0, result.stderr
    again = tmp_path / omz_build.name
    differing = [rel for rel in IR_CHAIN if (again / rel).read_bytes() != (omz_build / rel).read_bytes()]
    assert differing == []

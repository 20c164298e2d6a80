"""Atomic writes: a failed or interrupted stage leaves neither the target nor a temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from poseforge.fileio import atomic_directory, atomic_output, sha256_file


def test_success_renames_into_place_with_companion(tmp_path: Path) -> None:
    target = tmp_path / "ir" / "model.xml"
    with atomic_output(target, ".bin") as tmp:
        assert tmp.suffix == ".xml" and tmp.parent == target.parent
        tmp.write_text("<net/>")
        tmp.with_suffix(".bin").write_bytes(b"weights")
    assert target.read_text() == "<net/>" and target.with_suffix(".bin").read_bytes() == b"weights"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin", "model.xml"]
    assert target.stat().st_mode & 0o044  # readable by others, not mkstemp's 0600


@pytest.mark.parametrize("error", [RuntimeError("stage failed"), KeyboardInterrupt()])
def test_failure_leaves_nothing_and_keeps_an_old_target(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("previous, complete")
    with pytest.raises(type(error)), atomic_output(target, ".data") as tmp:
        tmp.write_text("half written")
        tmp.with_suffix(".data").write_text("half")
        raise error
    assert target.read_text() == "previous, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_atomic_directory(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a").write_text("x")
        raise RuntimeError
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("x")
    assert (target / "a").read_text() == "x"
    assert target.stat().st_mode & 0o055  # listable by others, not mkdtemp's 0700


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

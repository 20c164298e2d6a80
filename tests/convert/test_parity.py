"""parity --golden: a file that is not a golden fixture is refused in one line naming it, before any work."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from poseforge.convert.parity import MAX_GOLDEN_BYTES, read_golden
from poseforge.errors import PoseforgeError
from poseforge.models.checkpoint import random_checkpoint, save_checkpoint
from tests.hostile.helpers import cli, refused

INPUT = np.zeros((1, 3, 8, 8), np.float32)


def _inflating(path: Path) -> None:
    """An npz whose one member, deflated to a few hundred KB, inflates beyond any golden fixture."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("input.npy", "w", force_zip64=True) as f,
    ):
        chunk = bytes(1 << 20)
        for _ in range((MAX_GOLDEN_BYTES >> 20) + 1):
            f.write(chunk)


HOSTILE = {
    "text": (lambda p: p.write_text("not an npz\n"), "is not a golden fixture"),
    "npy": (lambda p: np.save(p.open("wb"), INPUT), "is not a golden fixture"),
    "no input": (lambda p: np.savez(p.open("wb"), x=INPUT), "holds no input array"),
    "pickled objects": (lambda p: np.savez(p.open("wb"), input=np.array([{}], dtype=object)), "is not a golden"),
    "strings": (lambda p: np.savez(p.open("wb"), input=np.array(["ab"])), "input is not finite floating-point"),
    "NaN": (lambda p: np.savez(p.open("wb"), input=INPUT * np.nan), "input is not finite floating-point"),
    "rank 2": (lambda p: np.savez(p.open("wb"), input=np.zeros((3, 4), np.float32)), r"input is \[3, 4\]"),
    "outputs half there": (lambda p: np.savez(p.open("wb"), input=INPUT, stage1_heatmaps=INPUT), "no stage1_pafs"),
    "inflating": (_inflating, "inflates to"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_file_that_is_not_a_golden_fixture_is_refused(tmp_path: Path, kind: str) -> None:
    make, match = HOSTILE[kind]
    path = tmp_path / "golden.npz"
    make(path)
    with pytest.raises(PoseforgeError, match=match):
        read_golden(path)


def test_parity_refuses_a_golden_fixture_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It was the last resort's line, not naming the file ("parity: KeyError: 'input is not a file in the
    archive'", "parity: IndexError: only integers, slices ...")."""
    save_checkpoint(random_checkpoint("human-pose-estimation-0001"), tmp_path / "build" / "model.pth")
    for kind in ("npy", "no input"):
        path = tmp_path / f"{kind}.npz"
        HOSTILE[kind][0](path)
        refused(cli(capsys, "parity", tmp_path / "build", "--golden", path), path, "golden fixture")

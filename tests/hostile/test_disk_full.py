"""Class 6, a full disk: each writing command, with its output on a small full tmpfs of our own,
fails with one line "no space left on ...", leaves no temporary file, and keeps the previous
output in that place (an earlier output of poseforge's, recorded as such) byte for byte."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from poseforge.fileio import atomic_output
from tests.bundle.made import Made
from tests.hostile.helpers import cli, fill, refused, run, snapshot, tmpfs, wrote

OMZ_XML = "omz/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.xml"


def earlier(path: Path, data: bytes, **companions: bytes) -> Path:
    """An earlier output of poseforge's in that place (written through fileio, so recorded): what a rerun may
    replace, and what a full disk must leave as it is. `companions`: suffix (without the dot) -> bytes."""
    suffixes = tuple(f".{suffix}" for suffix in companions)
    with atomic_output(path, *suffixes) as tmp:
        tmp.write_bytes(data)
        for suffix, content in companions.items():
            tmp.with_suffix(f".{suffix}").write_bytes(content)
    return path


def earlier_checkpoint(path: Path) -> Path:
    """A (tiny) model.pth as poseforge writes them."""
    buffer = io.BytesIO()
    torch.save({"format": "poseforge.checkpoint/1", "earlier": True}, buffer)
    return earlier(path, buffer.getvalue())


def earlier_ir(xml: Path) -> Path:
    xml.parent.mkdir(parents=True, exist_ok=True)
    graph = b"<net><rt_info><poseforge><metadata value='{}'/></poseforge></rt_info></net>"
    return earlier(xml, graph, bin=b"earlier weights")


def earlier_bundle(path: Path) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = json.dumps({"schema": "poseforge.bundle/1", "earlier": True}).encode()
        info = tarfile.TarInfo("bundle.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return earlier(path, buffer.getvalue())


# name -> (place the earlier output in the full folder and return the command's arguments, from
# (the folder, the assets, the session's build, the scored model folder, the 3-image COCO set))
Setup = Callable[[Path, Path, Path, Path, Path], list[str | Path]]
COMMANDS: dict[str, Setup] = {
    "checkpoint": lambda d, assets, build, scored, coco: [
        "checkpoint", "--model", "lightweight-openpose", assets / "upstream/lwop_random_checkpoint.pth",
        "-o", earlier_checkpoint(d / "model.pth"),
    ],
    "import-ir": lambda d, assets, build, scored, coco: [
        "import-ir", assets / OMZ_XML, "-o", earlier_checkpoint(d / "model.pth"),
    ],
    "checkpoint into a new subfolder": lambda d, assets, build, scored, coco: [
        "checkpoint", "--model", "lightweight-openpose", assets / "upstream/lwop_random_checkpoint.pth",
        "-o", d / "new" / "deeper" / "model.pth",
    ],
    "report": lambda d, assets, build, scored, coco: [
        "report", _model_dir_with_earlier_report(d, scored),
    ],
}  # fmt: skip
# OpenVINO's writer removes its partial files and names no errno: poseforge.ir_files.save_ir tells a
# full disk by the free space left.
UNDER_OPENVINO: dict[str, Setup] = {
    "convert": lambda d, assets, build, scored, coco: [
        "convert", build / "model.sim.onnx", "-o", earlier_ir(d / "ir" / "model.xml"),
    ],
    "bundle": lambda d, assets, build, scored, coco: [
        "bundle", scored / "ir/fp32/model.xml", "--reports", scored / "reports", "-o", earlier_bundle(d / "b.tar.gz"),
    ],
}  # fmt: skip


def _model_dir_with_earlier_report(folder: Path, scored: Path) -> Path:
    model_dir = folder / "model"
    shutil.copytree(scored / "reports", model_dir / "reports")
    earlier(model_dir / "report.md", b"# earlier\n")
    return model_dir


# Free space left: 1 MB, far above what fileio's "nearly full" heuristic (64 KB) sees, far below an
# artifact (16 MB): the write itself must run out. The report's outputs are smaller: it gets none.
LEAVE = {"report": 0}


def run_full(setup: Setup, tmp_path: Path, assets: Path, build: Path, scored: Path, coco: Path,
             capsys: pytest.CaptureFixture[str], leave: int = 1 << 20) -> None:  # fmt: skip
    with tmpfs(tmp_path / "full", "2m") as full:
        args = setup(full, assets, build, scored, coco)
        fill(full, leave)
        before = snapshot(full)
        line = refused(cli(capsys, *args), "no space left on the device holding", full)
        assert "nothing written, the previous state kept" in line
        assert snapshot(full) == before, "a temporary file is left, or the previous output changed"


@pytest.mark.parametrize("case", list(COMMANDS))
def test_a_full_disk(case: str, tmp_path: Path, assets: Path, omz_build: Path, scored: Path, coco3: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    run_full(COMMANDS[case], tmp_path, assets, omz_build, scored, coco3, capsys, LEAVE.get(case, 1 << 20))


@pytest.mark.parametrize("case", list(UNDER_OPENVINO))
def test_a_full_disk_under_openvino(case: str, tmp_path: Path, assets: Path, omz_build: Path, scored: Path,
                                    coco3: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    run_full(UNDER_OPENVINO[case], tmp_path, assets, omz_build, scored, coco3, capsys)


def test_validate_keeps_the_earlier_report_and_results(
    scored: Path, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report and its results are one unit: neither is replaced when the disk is full."""
    with tmpfs(tmp_path / "full", "2m") as full:
        report = full / "ir-fp32-val.json"
        for rel in ("ir-fp32-val.json", "results/ir-fp32-val.json"):
            earlier(full / rel, (scored / "reports" / rel).read_bytes())
        fill(full, 2048)
        before = snapshot(full)
        outcome = cli(capsys, "validate", scored / "ir/fp32/model.xml", "--coco", coco3, "--protocol", "val",
                      "--no-speed", "-o", report)  # fmt: skip
        refused(outcome, "no space left on the device holding", full)
        assert snapshot(full) == before


def test_export_wraps_a_full_disk_in_the_one_line(
    omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter's own error handling used to hide the full disk behind "ONNX export of ... failed"."""
    import torch.onnx

    def exporter(model: object, args: object, path: str, **kwargs: object) -> None:  # the real write, no tracing
        with open(path, "wb") as f:
            f.write(b"\0" * (8 << 20))

    monkeypatch.setattr(torch.onnx, "export", exporter)
    with tmpfs(tmp_path / "full", "2m") as full:
        onnx = earlier(full / "model.onnx", b"an earlier export")
        before = snapshot(full)
        refused(cli(capsys, "export", omz_build / "model.pth", "-o", onnx), "no space left on the device", onnx)
        assert snapshot(full) == before


def test_predict_keeps_the_earlier_output(
    made: Made, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "full", "2m") as full:
        out = full / "out"
        wrote(cli(capsys, "predict", made.bundle, sorted((coco3 / "val2017").iterdir())[0], "-o", out), out)
        fill(full, 64 << 10)
        before = snapshot(full)
        refused(cli(capsys, "predict", made.bundle, coco3 / "val2017", "-o", out), "no space left", out)
        assert snapshot(full) == before


def test_predict_a_video_on_a_full_disk(made: Made, coco3: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The H.264 encoder, a process of its own, runs out of space: one line, nothing left behind."""
    from tests.deploy.test_predict_video import write_video

    clip = write_video(tmp_path / "clip.mp4", sorted((coco3 / "val2017").iterdir()) * 8, "mp4v")
    with tmpfs(tmp_path / "full", "2m") as full:
        fill(full, 64 << 10)
        before = snapshot(full)
        refused(cli(capsys, "predict", made.bundle, clip, "-o", full / "out"), "no space left", full / "out")
        assert snapshot(full) == before


# A full TMPDIR, where a bundle's network is unpacked to be read: a tmpfs of our own as TMPDIR, too
# small for the network (refused before a byte is copied), or with room but out of inodes after the
# private directory and the first file (the second cannot be created: ENOSPC from the write itself).
# (A TMPDIR without a single free inode is not one: Python's tempfile then falls back to /tmp.)
TMPDIRS = {
    "too small for the network": ("2m", "needs 16.6 MB there"),
    "without an inode for the second file": ("64m,nr_inodes=3", "not loaded (TMPDIR chooses where"),
}


@pytest.mark.parametrize("command", ["verify", "predict"])
@pytest.mark.parametrize("case", list(TMPDIRS))
def test_a_full_tmpdir(case: str, command: str, made: Made, coco3: Path, tmp_path: Path) -> None:
    size, says = TMPDIRS[case]
    out = tmp_path / "out"
    args = {"verify": ["verify", made.bundle], "predict": ["predict", made.bundle, coco3 / "val2017", "-o", out]}
    with tmpfs(tmp_path / "tmp", size) as tmp:
        before = snapshot(tmp_path)
        line = refused(run(*args[command], env={**os.environ, "TMPDIR": str(tmp)}), made.bundle.name, says)
        assert f"no space left on the device holding {tmp}" in line
        assert snapshot(tmp_path) == before

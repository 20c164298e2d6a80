"""Class 5, resource exhaustion: inputs that claim huge sizes are refused (or bounded) before they
cost memory or time, and an interrupted run ends cleanly."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from poseforge import fetch
from poseforge.errors import PoseforgeError
from poseforge.fetch import download
from tests.bundle.made import Made
from tests.hostile.helpers import (
    Outcome,
    cli,
    copied_reports,
    http_server,
    members,
    refused,
    repack,
    run,
    snapshot,
    within,
    wrote,
)

GIB = 1 << 30


def limited(args: list[str | Path], limit: int = 4 * GIB, timeout: float = 120) -> tuple[Outcome, float, int]:
    """`poseforge ARGS` in a process with at most `limit` bytes of address space: (outcome, seconds, its peak RSS)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "poseforge.cli", *map(str, args)], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, text=True, preexec_fn=cap)  # fmt: skip
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own resource usage
        finally:
            watchdog.cancel()
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Outcome(os.waitstatus_to_exitcode(status), out.read(), err.read()), seconds, usage.ru_maxrss << 10


def stage_200000(assets: Path, target: Path) -> Path:
    """The upstream checkpoint with one extra key claiming refinement stage 200000."""
    checkpoint = torch.load(assets / "upstream/lwop_random_checkpoint.pth", map_location="cpu", weights_only=True)
    torch.save({**checkpoint, "state_dict": {**checkpoint["state_dict"], "refinement_stages.200000.x": torch.zeros(1)}},
               target)  # fmt: skip
    return target


def test_a_checkpoint_claiming_200000_stages_is_refused_before_building(assets: Path, tmp_path: Path) -> None:
    source = stage_200000(assets, tmp_path / "huge.pth")
    before = snapshot(tmp_path)
    outcome, seconds, peak = limited(
        ["checkpoint", "--model", "lightweight-openpose", source, "-o", tmp_path / "m.pth"]
    )
    refused(outcome, "huge.pth", "refinement stage 200000")
    assert seconds < 30 and peak < 1536 << 20, (seconds, peak)  # refused from the key names: nothing built
    assert snapshot(tmp_path) == before


def test_a_model_pth_whose_config_claims_200000_stages(
    omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = torch.load(omz_build / "model.pth", map_location="cpu", weights_only=True)
    source = tmp_path / "model.pth"
    torch.save({**checkpoint, "config": {"num_refinement_stages": 200_000}}, source)
    before = snapshot(tmp_path)
    start = time.monotonic()
    refused(cli(capsys, "export", source, "-o", tmp_path / "m.onnx"), source, "config.num_refinement_stages")
    assert time.monotonic() - start < 10
    assert snapshot(tmp_path) == before


# --- images -------------------------------------------------------------------------------------------------------
def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid PNG header declaring width x height, with a tiny IDAT: a few hundred bytes on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * width) * 4, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


IMAGES: dict[str, tuple[str, int, int, Callable[[Path], object], str]] = {
    "a 1x4000 strip": ("strip.png", 4000, 1, lambda p: cv2.imwrite(str(p), np.full((1, 4000, 3), 90, np.uint8)),
                       "times wider than high"),
    "a 9000x9000 photo": ("huge.jpg", 9000, 9000, lambda p: cv2.imwrite(str(p), np.full((9000, 9000, 3), 90, np.uint8)),
                          "more than 67108864 pixels"),
    "a 60000x60000 decompression bomb": ("bomb.png", 60000, 60000, lambda p: png_bomb(p, 60000, 60000),
                                         "more than 67108864 pixels"),
}  # fmt: skip


def annotate(folder: Path, file_name: str, width: int, height: int) -> Path:
    """The annotations of a COCO directory of one image, with nobody on it."""
    person = {"id": 1, "name": "person", "keypoints": [f"k{k}" for k in range(17)], "skeleton": []}
    coco = {"images": [{"id": 1, "file_name": file_name, "width": width, "height": height}], "annotations": [],
            "categories": [person]}  # fmt: skip
    (folder / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(coco))
    return folder


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> a COCO directory holding just that image (and its annotation entry)."""
    root = tmp_path_factory.mktemp("bad-images")
    folders = {}
    for i, (name, (file_name, width, height, write, _)) in enumerate(IMAGES.items()):
        folder = root / f"coco{i}"
        (folder / "annotations").mkdir(parents=True)
        (folder / "val2017").mkdir()
        write(folder / "val2017" / file_name)
        folders[name] = annotate(folder, file_name, width, height)
    return folders


@pytest.mark.parametrize("mode", ["validate", "validate --skip-bad", "predict"])
@pytest.mark.parametrize("case", list(IMAGES))
def test_an_oversized_image_is_refused_by_name(
    case: str,
    mode: str,
    bad_images: dict[str, Path],
    scored: Path,
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    coco = bad_images[case]
    file_name, *_, message = IMAGES[case]
    args = {
        "validate": ["validate", scored / "ir/fp32/model.xml", "--coco", coco, "--protocol", "val", "--no-speed",
                     "-o", tmp_path / "r.json"],
        "predict": ["predict", made.bundle, coco / "val2017", "-o", tmp_path / "out"],
    }[mode.split()[0]] + mode.split()[1:]  # fmt: skip
    before = snapshot(coco, tmp_path)
    start, peak = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = refused(cli(capsys, *args), file_name)
    if "--skip-bad" in mode:  # every image refused: nothing to score, said in one line
        assert "every image was undecodable or refused" in line
    else:
        assert message in line
    assert time.monotonic() - start < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < (1 << 20), "decoding took over 1 GB"  # KB
    assert snapshot(coco, tmp_path) == before


def test_predict_skips_a_bomb_among_good_images(
    made: Made, bad_images: dict[str, Path], coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "bomb.png").symlink_to(bad_images["a 60000x60000 decompression bomb"] / "val2017" / "bomb.png")
    good = sorted((coco3 / "val2017").iterdir())[0]
    (photos / good.name).symlink_to(good)
    out = tmp_path / "out"
    outcome = cli(capsys, "predict", made.bundle, photos, "-o", out, "--skip-bad")
    wrote(outcome, out)
    summary = json.loads((out / "predict.json").read_text())
    assert summary["skipped"] == ["bomb.png"] and summary["frames"] == 1


# --- decoder parameters in bundle.json ------------------------------------------------------------------------------
DECODERS: dict[str, tuple[dict[str, object], str]] = {
    "upsample_factor 400": ({"upsample_factor": 400}, "upsample_factor must be in [1, 8], got 400"),
    "paf_samples 3e7": ({"paf_samples": 3e7}, "paf_samples must be an integer"),
    "paf_samples 30000000": ({"paf_samples": 30_000_000}, "paf_samples must be in [2, 100]"),
    "peak_suppression_radius 1e9": ({"peak_suppression_radius": 1e9}, "peak_suppression_radius must be in"),
}


@pytest.fixture(scope="module")
def decoder_bundles(made: Made, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("decoder-bundles")
    good = members(made.bundle)
    bundles = {}
    for i, (name, (fields, _)) in enumerate(DECODERS.items()):
        manifest = json.loads(good["bundle.json"])
        manifest["decoder"].update(fields)
        bundles[name] = repack(root / f"decoder{i}.tar.gz", {**good, "bundle.json": json.dumps(manifest).encode()})
    return bundles


@pytest.mark.parametrize("command", ["predict", "validate"])
@pytest.mark.parametrize("case", list(DECODERS))
def test_decoder_parameters_out_of_bounds(
    case: str,
    command: str,
    decoder_bundles: dict[str, Path],
    coco3: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = decoder_bundles[case]
    args = {
        "predict": ["predict", bundle, coco3 / "val2017", "-o", tmp_path / "out"],
        "validate": ["validate", bundle, "--coco", coco3, "--protocol", "deploy", "--no-speed", "-o",
                     tmp_path / "r.json"],
    }[command]  # fmt: skip
    before = snapshot(bundle, tmp_path)
    refused(cli(capsys, *args), bundle.name, DECODERS[case][1])
    assert snapshot(bundle, tmp_path) == before


# --- a video whose header claims 2^31 frames --------------------------------------------------------------------------
def claiming_video(path: Path, images: list[Path], frames: int) -> Path:
    """An MJPG .avi of `frames` real frames whose header says 0x7fffffff (avih dwTotalFrames, strh dwLength)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(cv2.resize(cv2.imread(str(images[i % len(images)])), (320, 240)))
    writer.release()
    data = bytearray(path.read_bytes())
    avih, strh = data.find(b"avih"), data.find(b"strh")
    assert avih > 0 and strh > 0 and data[strh + 8 : strh + 12] == b"vids"
    data[avih + 8 + 16 : avih + 8 + 20] = struct.pack("<I", 0x7FFFFFFF)  # MainAVIHeader.dwTotalFrames
    data[strh + 8 + 32 : strh + 8 + 36] = struct.pack("<I", 0x7FFFFFFF)  # AVIStreamHeader.dwLength
    path.write_bytes(bytes(data))
    capture = cv2.VideoCapture(str(path))
    claimed = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    capture.release()
    assert claimed >= 0x7FFFFFFF, claimed  # OpenCV believes the header
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, coco_images: list[Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {"short": claiming_video(root / "short.avi", coco_images, 10),
            "long": claiming_video(root / "long.avi", coco_images, 300)}  # fmt: skip


def test_a_video_claiming_2_31_frames_ends_in_bounded_time(made: Made, videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    start = time.monotonic()
    outcome = run("predict", made.bundle, videos["short"], "-o", out, "--skip-bad", timeout=120)
    assert time.monotonic() - start < 90
    wrote(outcome, out)
    summary = json.loads((out / "predict.json").read_text())
    assert summary["frames"] == 10 and len(summary["skipped"]) < 100


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_ends_cleanly(signum: int, made: Made, videos: dict[str, Path], tmp_path: Path) -> None:
    """Ctrl-C (or a CI timeout's SIGTERM) mid-run: exit 128+N, a one-line note, no core dump, nothing left."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "poseforge.cli", "predict", str(made.bundle), str(videos["long"]), "-o", str(out),
            "--skip-bad"]  # fmt: skip
    # SIGINT as a terminal delivers it: a shell starts background jobs (a CI runner's, say) with
    # it ignored, and Python keeps an inherited SIG_IGN, as a user's `nohup` wants.
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # Interrupted once the drawn video holds some frames (they are being inferred, decoded and
        # written), not after a fixed sleep: a fast machine may finish the clip within one.
        while not any(f.stat().st_size > 100_000 for t in tmp_path.glob(".out.*.tmp") for f in t.glob("*.mp4")):
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stderr.read() if process.stderr else ""
            )
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signum, (process.returncode, stderr)  # not -6 / 134: no abort
    assert "Traceback" not in stdout + stderr and "core dumped" not in stderr and "terminate called" not in stderr
    if signum == signal.SIGINT:
        assert stderr.splitlines()[-1] == "poseforge: interrupted", stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the output or a temporary folder is left"


# --- pipes and devices planted where poseforge reads a file -------------------------------------------------------
def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _coco_with(root: Path, plant: Callable[[Path], object]) -> Path:
    """A one-image COCO directory whose image file is planted by `plant` (a FIFO, a link to a device)."""
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    plant(root / "val2017" / "cam.jpg")
    return annotate(root, "cam.jpg", 640, 480)


def _reports_with_fifo(root: Path, scored: Path) -> Path:
    shutil.copytree(scored / "reports", root / "model" / "reports")
    (root / "model" / "reports" / "ir-fp32-val.json").unlink()
    _fifo(root / "model" / "reports" / "ir-fp32-val.json")
    return root / "model"


# name -> (arguments from (a scratch folder, the scored model, the bundle, the 3-image COCO set), what is named)
PLANTED: dict[str, Callable[[Path, Path, Path, Path], tuple[list[str | Path], str]]] = {
    "an image that is a FIFO": lambda root, scored, bundle, coco: (
        ["validate", scored / "ir/fp32/model.xml", "--coco", _coco_with(root / "coco", _fifo), "--protocol", "val",
         "--no-speed", "-o", root / "r.json"], "cam.jpg",
    ),
    "an image that is a link to /dev/zero": lambda root, scored, bundle, coco: (
        ["validate", scored / "ir/fp32/model.xml", "--coco", _coco_with(root / "coco", lambda p: p.symlink_to(
         "/dev/zero")), "--protocol", "val", "--no-speed", "-o", root / "r.json"], "cam.jpg",
    ),
    "a speed file that is a FIFO": lambda root, scored, bundle, coco: (
        ["validate", scored / "ir/fp32/model.xml", "--coco", coco, "--protocol", "val", "--speed",
         _fifo(root / "speed.json"), "-o", root / "r.json"], "speed.json",
    ),
    "a predict.json that is a FIFO": lambda root, scored, bundle, coco: (
        ["predict", bundle, coco / "val2017", "-o", _fifo(root / "out" / "predict.json").parent], "predict.json",
    ),
    "a baseline that is a FIFO": lambda root, scored, bundle, coco: (
        ["gate", scored, "--baseline", _fifo(root / "baseline.json")], "baseline.json",
    ),
    "a report that is a FIFO": lambda root, scored, bundle, coco: (
        ["report", _reports_with_fifo(root, scored)], "ir-fp32-val.json",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(PLANTED))
def test_a_pipe_or_device_never_blocks(
    case: str,
    scored: Path,
    made: Made,
    coco3: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, named = PLANTED[case](tmp_path, scored, made.bundle, coco3)
    before = snapshot(tmp_path)
    with within(60):
        refused(cli(capsys, *args), named, "not a regular file")
    assert snapshot(tmp_path) == before


# --- a checkpoint whose record inflates to gigabytes ------------------------------------------------------------------
def deflate_bomb(target: Path, inflated: int) -> Path:
    """A torch.save checkpoint of one float32 tensor of `inflated` bytes, its record deflated: a few MB on disk.

    torch.save writes a small tensor (of a length found nowhere else in the pickle); its length is then
    patched in the pickle (shape and storage size, the same 4 bytes) and its record replaced by `inflated`
    zero bytes, deflated. torch.load inflates a compressed record as readily as a stored one."""
    marker, length = 123457, inflated // 4
    buffer = io.BytesIO()
    torch.save({"state_dict": {"x": torch.zeros(marker)}}, buffer)
    with (
        zipfile.ZipFile(buffer) as zin,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout,
    ):
        for info in zin.infolist():
            if info.filename.endswith("/data.pkl"):
                pickled = zin.read(info)
                assert pickled.count(b"J" + struct.pack("<i", marker)) == 2
                zout.writestr(info, pickled.replace(b"J" + struct.pack("<i", marker), b"J" + struct.pack("<i", length)))
            elif info.filename.endswith("/data/0"):
                with zout.open(info.filename, "w", force_zip64=True) as out:
                    zeros = bytes(64 << 20)
                    for _ in range(inflated // len(zeros)):
                        out.write(zeros)
            else:
                zout.writestr(info, zin.read(info))
    return target


def test_a_checkpoint_record_that_inflates_to_gigabytes(tmp_path: Path) -> None:
    """Its first tensor record deflates to 2 GiB (the file grows by a few MB): torch inflated it before any check."""
    bomb = deflate_bomb(tmp_path / "bomb.pth", 2 * GIB)
    assert bomb.stat().st_size < 64 << 20
    before = snapshot(tmp_path)
    outcome, seconds, peak = limited(["checkpoint", "--model", "lightweight-openpose", bomb, "-o", tmp_path / "m.pth"])
    refused(outcome, "bomb.pth", "compressed")
    assert seconds < 30 and peak < 1 * GIB, (seconds, peak)
    assert snapshot(tmp_path) == before


# --- a results file that claims 256 GiB -------------------------------------------------------------------------------
def test_compare_checks_a_results_files_size_before_hashing_it(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports, results = copied_reports(scored, tmp_path)
    with open(results, "r+b") as f:
        f.truncate(256 * GIB)  # sparse: nothing written, but hashing it would read 256 GiB of zeros

    def listing() -> list[tuple[str, int, int]]:  # not snapshot(): that would hash the 256 GiB
        return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))

    before = listing()
    start = time.monotonic()
    refused(cli(capsys, "compare", reports / "ir-fp32-val.json", reports / "ir-fp32-deploy.json", "--cross-protocol"),
            results, "larger than any")  # fmt: skip
    assert time.monotonic() - start < 30
    assert listing() == before


# --- bootstrap resamples: their time grows with resamples x images ---------------------------------------------------
def test_compare_bounds_the_work_of_its_resamples(scored: Path) -> None:
    """A million resamples (the most --resamples takes) of the 3 images ran for minutes (and of val2017's
    5,000 would have drawn 40 GB at once): refused in one line, saying how many these images allow."""
    reports = scored / "reports"
    outcome, seconds, _ = limited(["compare", reports / "ir-fp32-val.json", reports / "ir-fp32-deploy.json",
                                   "--cross-protocol", "--resamples", "1000000"], timeout=60)  # fmt: skip
    refused(outcome, "1000000 bootstrap resamples of 3 images", "at most", "--resamples")
    assert seconds < 30


# --- downloads: a server without Content-Length, one that trickles ----------------------------------------------------
def endless(request: http.server.BaseHTTPRequestHandler, name: str) -> None:
    """200 with no Content-Length, then zeros until the client stops reading."""
    request.send_response(200)
    request.end_headers()
    block = bytes(1 << 20)
    with contextlib.suppress(OSError):
        for _ in range(1024):
            request.wfile.write(block)


def trickle(request: http.server.BaseHTTPRequestHandler, name: str) -> None:
    """The length of a 160 KB image announced, then a byte every 0.2 s."""
    request.send_response(200)
    request.send_header("Content-Length", "161811")
    request.end_headers()
    with contextlib.suppress(OSError):
        for _ in range(161811):
            request.wfile.write(b"\0")
            request.wfile.flush()
            time.sleep(0.2)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_a_download_reads_no_more_than_the_expected_size(tmp_path: Path, no_proxy: None) -> None:
    """It read 80 MiB for one 160 KB image from a server sending no Content-Length."""
    dest = tmp_path / "000000000139.jpg"
    with http_server(endless) as server:
        start = time.monotonic()
        with pytest.raises(PoseforgeError, match="sends more than the 161811 bytes"):
            download(f"{server}/{dest.name}", dest, "0" * 64, progress=False, size=161811)
    assert time.monotonic() - start < 30
    assert list(tmp_path.iterdir()) == []  # the part refused with it


def test_a_trickling_server_meets_a_deadline(tmp_path: Path, no_proxy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A byte every 5 s passes every per-read timeout: it was still downloading after 90 s. Here the
    deadline is shortened (1 s plus the size at 10 MB/s) and the byte comes every 0.2 s."""
    monkeypatch.setattr(fetch, "DEADLINE_BASE_S", 1.0)
    monkeypatch.setattr(fetch, "MIN_RATE", 10 << 20)
    dest = tmp_path / "000000000139.jpg"
    with http_server(trickle) as server:
        start = time.monotonic()
        with pytest.raises(PoseforgeError, match=r"no complete file within 1 s: \d+ of 161811 bytes arrived"):
            download(f"{server}/{dest.name}", dest, "0" * 64, progress=False, size=161811)
    assert time.monotonic() - start < 10
    assert not dest.exists()

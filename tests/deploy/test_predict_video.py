"""`poseforge predict` on video: a drawn video frame for frame, poses by frame index, bad frames named."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import cv2
import pytest

from poseforge.deploy import estimator as estimator_module
from poseforge.fileio import LEDGER
from tests.bundle.made import Made
from tests.conftest import run_blocked, run_cli

SIZE = (640, 480)


def write_video(path: Path, images: list[Path], fourcc: str, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, SIZE)
    assert writer.isOpened()
    for image in images:
        writer.write(cv2.resize(cv2.imread(str(image)), SIZE))
    writer.release()
    return path


def frames_of(path: Path) -> tuple[int, float, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return count, fps, size


@pytest.fixture
def clip(tmp_path: Path, coco_images: list[Path]) -> Path:
    return write_video(tmp_path / "clip.mp4", coco_images[:24], "mp4v", fps=12.0)


def test_a_video_is_drawn_frame_for_frame(made: Made, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(clip), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "in 24 frames" in result.stdout and " fps end to end; compile " in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "poses.json", "predict.json"]
    assert frames_of(out / "clip.mp4") == (24, 12.0, SIZE)
    assert fourcc(out / "clip.mp4") in ("avc1", "h264")  # H.264, which browsers play
    summary = json.loads((out / "predict.json").read_text())
    assert summary["kind"] == "video" and summary["frames"] == 24 and summary["video_fps"] == 12.0
    assert summary["video_codec"] == "h264" and summary["notes"] == [] and summary["encoder_cpu_ms_per_frame"] > 0
    assert summary["fps"] > 0 and summary["runtime"]["optimal_requests"] >= 1
    # Twice the plugin's requests in flight; end-to-end fps leaves compiling the network out.
    runtime = summary["runtime"]
    assert runtime["requests_in_flight"] == estimator_module.QUEUED * runtime["optimal_requests"]
    assert 0 < summary["compile_seconds"] < summary["seconds"]
    assert summary["fps"] == pytest.approx(24 / (summary["seconds"] - summary["compile_seconds"]))
    assert summary["steady_fps"] > 0  # after the warm-up: each of the requests in flight run twice
    for stage in ("read", "preprocess", "decode", "draw", "write"):  # wall time = its thread's CPU + waiting
        figures = summary["timings_ms"][stage]
        assert 0 <= figures["cpu_median_ms"] <= figures["median_ms"] + 0.5, (stage, figures)
    poses = json.loads((out / "poses.json").read_text())
    assert poses and {p["image_id"] for p in poses} <= set(range(24)) and len(poses) == summary["people"]
    assert all(len(p["keypoints"]) == 51 for p in poses)


def fourcc(path: Path) -> str:
    capture = cv2.VideoCapture(str(path))
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    capture.release()
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).lower()


# The CLI in an interpreter where imageio_ffmpeg cannot be imported (tests/conftest.py run_blocked).
WITHOUT_FFMPEG = """
from poseforge.cli import main
raise SystemExit(main({argv!r}))
"""


def test_without_the_h264_encoder_the_video_is_mp4v_with_a_note(made: Made, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_blocked(("imageio_ffmpeg",), WITHOUT_FFMPEG.format(argv=["predict", str(made.bundle), str(clip),
                                                                           "-o", str(out)]))  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert notes == ["note: imageio-ffmpeg is not installed: the video is MPEG-4 Part 2 (mp4v), which browsers do "
                     "not play (pip install imageio-ffmpeg for H.264)"]  # fmt: skip
    assert frames_of(out / "clip.mp4") == (24, 12.0, SIZE) and fourcc(out / "clip.mp4") in ("mp4v", "fmp4")
    summary = json.loads((out / "predict.json").read_text())
    assert summary["video_codec"] == "mp4v" and summary["encoder_cpu_ms_per_frame"] is None


def test_a_video_is_drawn_in_its_feeder_thread_and_a_drawing_failure_is_one_error(
    made: Made, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """predict's thread decodes while the writer's feeder draws (off the thread the pipeline waits
    on); an error there still ends predict with it, and nothing is written."""
    from poseforge.deploy import predict as module
    from poseforge.errors import PoseforgeError

    threads: list[str] = []
    draw = module.draw_poses

    def drawing(pixels: object, poses: object, copy: bool = True) -> object:
        threads.append(threading.current_thread().name)
        if len(threads) == 20:
            raise PoseforgeError("cannot draw frame 20")
        return draw(pixels, poses, copy=copy)

    monkeypatch.setattr(module, "draw_poses", drawing)
    with pytest.raises(PoseforgeError, match="cannot draw frame 20"):
        module.predict(made.bundle, clip, tmp_path / "out")
    assert not (tmp_path / "out").exists() and len(threads) == 20 and set(threads) == {"encoder-feed"}
    monkeypatch.setattr(module, "draw_poses", draw)
    summary = module.predict(made.bundle, clip, tmp_path / "out")
    assert frames_of(tmp_path / "out" / "clip.mp4") == (24, 12.0, SIZE)
    assert summary["timings_ms"]["draw"]["frames"] == 24 and summary["encoder_cpu_ms_per_frame"] > 0


def test_save_poses_draws_and_encodes_nothing(made: Made, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(clip), "-o", str(out), "--save", "poses")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["poses.json", "predict.json"]
    summary = json.loads((out / "predict.json").read_text())
    assert summary["save"] == "poses" and summary["files"] == ["poses.json"] and summary["video_codec"] is None
    assert not {"draw", "write"} & set(summary["timings_ms"]) and summary["frames"] == 24
    drawn = tmp_path / "drawn"
    assert run_cli("predict", str(made.bundle), str(clip), "-o", str(drawn)).returncode == 0
    assert (out / "poses.json").read_text() == (drawn / "poses.json").read_text()  # the same poses either way


def test_save_video_makes_one_video_of_a_folder(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for image in coco_images[:5]:
        (folder / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(folder), "-o", str(out), "--save", "video")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["poses.json", "predict.json", "shots.mp4"]
    first = cv2.imread(str(coco_images[0]))
    size = (first.shape[1] + first.shape[1] % 2, first.shape[0] + first.shape[0] % 2)  # H.264 4:2:0: even sides
    assert frames_of(out / "shots.mp4") == (5, 25.0, size) and fourcc(out / "shots.mp4") in ("avc1", "h264")


def test_without_o_each_run_gets_the_next_numbered_folder(made: Made, clip: Path, tmp_path: Path) -> None:
    (tmp_path / "runs" / "predict" / "2").mkdir(parents=True)  # someone else's: never used
    lines = []
    for _ in range(3):
        result = run_cli("predict", str(made.bundle), str(clip), "--save", "poses", "--max-frames", "3",
                         cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        lines.append(result.stdout.splitlines()[-1])
    assert [line.split(":")[0] for line in lines] == [f"wrote runs/predict/{n}" for n in (1, 3, 4)]
    assert not any((tmp_path / "runs" / "predict" / "2").iterdir())
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")  # fails mid-run, after its folder was made
    failed = run_cli("predict", str(made.bundle), str(tmp_path / "bad.jpg"), cwd=tmp_path)
    assert failed.returncode == 1 and "cannot read image bad.jpg" in failed.stderr
    made_here = sorted(p.name for p in (tmp_path / "runs" / "predict").iterdir() if p.name != LEDGER)
    assert made_here == ["1", "2", "3", "4"]  # the failed run's folder is gone; poseforge's record of its own stays


def jpeg_starts(data: bytes) -> list[int]:
    """Where each frame's JPEG starts in a Motion-JPEG AVI."""
    return [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]


def corrupt_frame(path: Path, index: int) -> None:
    """Wipe the start of one frame's JPEG in a Motion-JPEG AVI: that frame no longer decodes."""
    data = bytearray(path.read_bytes())
    start = jpeg_starts(data)[index]
    data[start : start + 4000] = bytes(4000)
    path.write_bytes(bytes(data))


def test_a_corrupt_frame_is_named(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", coco_images[:12], "MJPG")
    corrupt_frame(video, 7)
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(video), "-o", str(out))
    assert result.returncode == 1
    assert "poseforge: error: video cam.avi: cannot decode frame 7 (of 12" in result.stderr, result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cam.avi"]

    result = run_cli("predict", str(made.bundle), str(video), "-o", str(out), "--skip-bad")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "predict.json").read_text())
    assert summary["skipped"] == ["frame 7"] and summary["frames"] == 11
    assert frames_of(out / "cam.mp4")[0] == 11
    assert 7 not in {p["image_id"] for p in json.loads((out / "poses.json").read_text())}


def mkv_with_longer_audio(clip: Path, target: Path, seconds: float) -> Path:
    """`clip` as an H.264 MKV with a tone of `seconds` (longer than the video): an MKV's header holds
    no frame count, so OpenCV estimates one from the duration, which is the audio's."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(clip), "-f",
                    "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-map", "0:v", "-map", "1:a", "-c:v",
                    "libx264", "-preset", "ultrafast", "-c:a", "aac", str(target)], check=True, timeout=60)  # fmt: skip
    return target


def test_a_video_that_ends_before_its_announced_count_is_kept(made: Made, clip: Path, coco_images: list[Path],
                                                               tmp_path: Path) -> None:  # fmt: skip
    """An MKV whose count is an estimate (24 frames, a 4 s tone) and an AVI cut after 8 of its 12
    frames end where their frames do: what was read is kept, and said, with or without --skip-bad."""
    mkv = mkv_with_longer_audio(clip, tmp_path / "tone.mkv", 4)
    avi = write_video(tmp_path / "cut.avi", coco_images[:12], "MJPG")
    data = avi.read_bytes()
    avi.write_bytes(data[: jpeg_starts(data)[8]])  # frames 8 to 11 and the index gone
    for video, frames in ((mkv, 24), (avi, 8)):
        announced = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
        assert announced > frames and frames_of(video)[0] == frames  # what makes the case
        for extra in ([], ["--skip-bad"]):
            out = tmp_path / f"out-{video.suffix[1:]}{len(extra)}"
            result = run_cli("predict", str(made.bundle), str(video), "-o", str(out), "--save", "poses", *extra)
            assert result.returncode == 0, result.stderr
            assert (f"in {frames} frames, ended at frame {frames} of the {announced} its header announced (an "
                    "estimate, or the file is truncated); ") in result.stdout, result.stdout  # fmt: skip
            summary = json.loads((out / "predict.json").read_text())
            assert (summary["frames"], summary["announced_frames"]) == (frames, announced)
            assert summary["ended_early"] and not summary["stream_lost"] and summary["skipped"] == []
            ids = {p["image_id"] for p in json.loads((out / "poses.json").read_text())}
            assert ids and ids <= set(range(frames))


def test_a_file_that_is_no_video_is_a_clear_error(made: Made, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing after")
    result = run_cli("predict", str(made.bundle), str(fake), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "holiday.mp4" in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("poseforge: error:")
    assert not (tmp_path / "out").exists()


@pytest.fixture
def slideshow(tmp_path: Path, assets: Path) -> Path:
    """deploy.clips' slideshow, three shots of 15 frames (a crowd, another crowd, the first again),
    as an mp4 video."""
    from poseforge.deploy.clips import Photos, slideshow

    clip = slideshow(Photos(assets / "coco-val"), shot_frames=SHOT)
    path = tmp_path / "slides.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, SIZE)
    for frame in clip.frames:
        writer.write(frame)
    writer.release()
    return path


SHOT = 15


def test_a_tracked_video_has_ids_drawn_per_track_and_no_id_across_a_cut(made: Made, slideshow: Path,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    """--track: every person written has an id (people without one are left out), predict.json
    says where each track starts and ends, and no track spans two shots of the slideshow."""
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(slideshow), "-o", str(out), "--track")
    assert result.returncode == 0, result.stderr
    poses = json.loads((out / "poses.json").read_text())
    tracking = json.loads((out / "predict.json").read_text())["tracking"]
    assert poses and all(p["track_id"] >= 0 for p in poses)
    assert tracking["tracker"]["min_hits"] == 3 and tracking["tracker"]["emit_unconfirmed"] is False
    frames_of_track: dict[int, list[int]] = {}
    for p in poses:
        frames_of_track.setdefault(p["track_id"], []).append(p["image_id"])
    expected = [{"track_id": t, "first_frame": min(f), "last_frame": max(f), "frames": len(f)}
                for t, f in sorted(frames_of_track.items())]  # fmt: skip
    assert tracking["tracks"] == expected
    assert all(t["first_frame"] // SHOT == t["last_frame"] // SHOT for t in expected), expected
    assert {t["first_frame"] // SHOT for t in expected} == {0, 1, 2}  # people tracked in every shot

    out2 = tmp_path / "out2"
    result = run_cli("predict", str(made.bundle), str(slideshow), "-o", str(out2), "--tracker", "min_hits=5",
                     "--tracker", "emit_unconfirmed=true")  # fmt: skip
    assert result.returncode == 0, result.stderr
    poses = json.loads((out2 / "poses.json").read_text())
    tracker = json.loads((out2 / "predict.json").read_text())["tracking"]["tracker"]
    assert tracker["min_hits"] == 5 and tracker["emit_unconfirmed"] is True  # --tracker implies --track
    assert {p["track_id"] for p in poses} >= {-1, 0}


def test_the_encoder_pipe_takes_a_whole_frame_per_write(coco_images: list[Path], tmp_path: Path) -> None:
    """Where Linux allows it the encoder's pipe is grown to PIPE_BYTES, so a 640x480 frame (460,800
    bytes of yuv420p) goes through in one write, not eight; the video is the same either way."""
    import fcntl

    from poseforge.decode import Poses
    from poseforge.deploy import outputs
    from poseforge.deploy.timing import StageTimes

    if outputs.h264_encoder() is None:
        pytest.skip("imageio-ffmpeg is not installed")
    writer = outputs.VideoWriter(tmp_path / "v.mp4", 10.0, lambda pixels, _: pixels, StageTimes())
    frames = [cv2.resize(cv2.imread(str(image)), SIZE) for image in coco_images[:3]]
    for index, frame in enumerate(frames):
        writer.write(str(index), frame, Poses.empty())
    grown = fcntl.fcntl(writer._process.stdin.fileno(), fcntl.F_GETPIPE_SZ)
    writer.close()
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    assert grown == outputs.PIPE_BYTES if limit >= outputs.PIPE_BYTES else grown <= limit
    assert grown >= SIZE[0] * SIZE[1] * 3 // 2 or limit < outputs.PIPE_BYTES
    assert frames_of(tmp_path / "v.mp4") == (3, 10.0, SIZE)

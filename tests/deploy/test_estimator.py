"""PoseEstimator on a real bundle: the frame's own aspect, the same poses per frame and streamed,
bounded compiled shapes, tracking through the API, per-stage timings, and clear refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from poseforge import PoseEstimator
from poseforge.decode import decode
from poseforge.deploy import estimator as estimator_module
from poseforge.deploy.clips import Clip, Photos, slideshow
from poseforge.deploy.tracking import TrackerParams
from poseforge.errors import PoseforgeError
from poseforge.preprocess import prepare
from poseforge.runtime import open_runner
from tests.bundle.made import HEIGHT, Made

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def estimator(made: Made) -> PoseEstimator:
    return PoseEstimator(made.bundle)


@pytest.fixture(scope="module")
def frames(coco_images: list[Path]) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in coco_images[:6]]


def test_a_640x480_frame_runs_at_its_own_aspect(estimator: PoseEstimator) -> None:
    assert estimator.deploy_shape == (256, 456)
    # 256 x 341.3, rounded up to a multiple of 8
    assert estimator.prepare(np.zeros((480, 640, 3), np.uint8)).image.shape == (256, 344, 3)


def test_the_input_height_is_the_users_with_its_measured_ap(made: Made, frames: list[np.ndarray]) -> None:
    """input_height=320: a 640x480 frame runs at 320x432, the poses are the native protocol's at 320, and
    measured() leads with the AP the bundle measured at that height, naming it."""
    measured = PoseEstimator(made.bundle).manifest["measured"]
    taller = PoseEstimator(made.bundle, input_height=HEIGHT, precision_hint="f32")  # as the runner below
    assert taller.prepare(np.zeros((480, 640, 3), np.uint8)).image.shape == (HEIGHT, 432, 3)
    runner = open_runner(made.bundle)
    prepared = prepare(frames[1], "native", input_height=HEIGHT)
    heatmaps, pafs = runner.run(prepared.image[None])
    expected = decode(heatmaps[0], pafs[0], prepared.geometry, taller.params)
    got = taller(frames[1])
    assert len(got) == len(expected) and np.allclose(got.keypoints, expected.keypoints, atol=1e-3)
    at_height = measured["native_heights"][str(HEIGHT)]
    lead = f"native AP {at_height['ap']:.3f} [{at_height['interval']['low']:.3f}, {at_height['interval']['high']:.3f}]"
    assert taller.measured().startswith(
        f"human-pose-estimation-0001 fp32: {lead} at input height {HEIGHT} (what runs);"
    )
    default = PoseEstimator(made.bundle).measured()
    assert default.startswith(f"human-pose-estimation-0001 fp32: native AP {measured['native']['ap']:.3f}")
    assert "at input height 256 (what runs)" in default and f"at height {HEIGHT}" in default  # the others follow
    assert f"val AP {measured['val']['ap']:.3f}" in default and "on coco-mini (68 people)" in default
    letterbox = PoseEstimator(made.bundle, input_size="letterbox").measured()
    assert f"deploy AP {measured['deploy']['ap']:.3f}" in letterbox.split(";")[0] and "(what runs)" in letterbox


def test_a_height_not_measured_says_so_and_cites_the_nearest(made: Made) -> None:
    line = PoseEstimator(made.bundle, input_height=296).measured()  # nearer 320 than 256
    lead = line.split(";")[0]
    assert "native at input height 296 (what runs) was not measured" in lead
    assert "the nearest measured: native AP" in line and f"at height {HEIGHT}, not what runs" in line


def test_letterbox_gives_what_the_deploy_protocol_gives(made: Made, frames: list[np.ndarray]) -> None:
    letterbox = PoseEstimator(made.bundle, input_size="letterbox", precision_hint="f32")  # as the runner runs
    runner = open_runner(made.bundle)
    for frame in frames[:3]:
        prepared = prepare(frame, "deploy")
        heatmaps, pafs = runner.run(prepared.image[None])
        expected = decode(heatmaps[0], pafs[0], prepared.geometry, letterbox.params)
        got = letterbox(frame)
        assert np.allclose(got.keypoints, expected.keypoints, atol=1e-3) and len(got) == len(expected)


def test_stream_gives_the_per_frame_poses_in_order(made: Made, frames: list[np.ndarray]) -> None:
    one = PoseEstimator(made.bundle)
    expected = [one(frame) for frame in frames]
    est = PoseEstimator(made.bundle)
    streamed = list(est.stream(iter(frames)))
    assert len(streamed) == len(frames)
    for got, want in zip(streamed, expected, strict=True):
        assert len(got) == len(want) and np.allclose(got.keypoints, want.keypoints, atol=1e-3)
    assert est.thread_probe is None  # too few frames to measure the thread counts: all cores, undecided


def test_stream_chooses_its_threads_by_measuring_both(made: Made, frames: list[np.ndarray], monkeypatch) -> None:
    candidates = estimator_module.thread_candidates()
    if len(candidates) < 2:
        pytest.skip("one core: nothing to choose")
    monkeypatch.setattr(estimator_module, "PROBE_FRAMES", 8)  # the choice, not its precision, is tested here
    clip = [cv2.resize(frames[0], (640, 480))] * 36  # both warm-ups and timed windows, then some
    est = PoseEstimator(made.bundle)
    auto = list(est.stream(iter(clip)))
    probe = est.thread_probe
    assert len(auto) == len(clip) and probe["frames"] == 8
    fewer = str(candidates[1])
    (every,) = set(probe["fps"]) - {fewer}  # all cores: the plugin's thread count
    # One core fewer only if faster beyond the margin: a closer result keeps all cores.
    kept = fewer if probe["fps"][fewer] > probe["fps"][every] * (1 + probe["margin"]) else every
    assert probe["threads"] == int(kept)
    assert probe["threads"] == est.settings["threads"] and probe["margin"] == estimator_module.PROBE_MARGIN
    assert len(probe["fps"]) == 2 and str(candidates[1]) in probe["fps"]  # all cores, and one fewer
    assert [key[2] for key in est._runners if key[1] == "THROUGHPUT"] == [est._stream_threads]  # the other dropped
    assert est.timings()["steady_fps"] > 0  # over the frames after the choice
    # One frame over and over, inferred with both thread counts on the way: the same poses throughout.
    assert auto[0] and all(np.array_equal(p.keypoints, auto[0].keypoints) for p in auto)
    given = PoseEstimator(made.bundle, threads=candidates[1])
    assert len(list(given.stream(iter(clip[:4])))) == 4
    assert given.thread_probe is None and given.settings["threads"] == candidates[1]  # given: used from the start


def test_a_frames_poses_do_not_depend_on_the_frames_before_it(made: Made, frames: list[np.ndarray]) -> None:
    """Mixed sizes: each frame gets the poses it gets from an estimator that saw it alone (its own
    width, not one rounded to what came before), called or streamed, from two compiled networks:
    the first size's and the one for every shape."""
    sizes = [(480, 640), (427, 640), (426, 640), (640, 480), (375, 500), (612, 612), (480, 640)]
    mixed = [cv2.resize(frames[i % len(frames)], (w, h)) for i, (h, w) in enumerate(sizes)] * 2
    est = PoseEstimator(made.bundle)
    called = [est(frame) for frame in mixed]
    streamed = list(est.stream(iter(mixed)))
    assert {key[0] for key in est._runners} == {(256, 344), estimator_module.ANY_SHAPE}
    assert len(est._runners) <= estimator_module.MAX_SHAPES
    assert sum(len(p) for p in called) > 0
    for frame, call, stream in zip(mixed[: len(sizes)], called, streamed, strict=False):
        alone = PoseEstimator(made.bundle)(frame)  # compiled for this frame's own shape
        assert np.array_equal(call.keypoints, alone.keypoints) and np.array_equal(call.scores, alone.scores)
        assert np.array_equal(stream.keypoints, alone.keypoints)
    assert all(np.array_equal(a.keypoints, b.keypoints) for a, b in zip(called, called[len(sizes) :], strict=False))


def test_tracking_and_smoothing_through_the_api(made: Made, frames: list[np.ndarray], estimator: PoseEstimator) -> None:
    est = PoseEstimator(made.bundle, track=True, smooth=True, min_score=0.5)
    high = TrackerParams().high_score  # the frame with the most people strong enough to start a track
    still = [max(frames, key=lambda f: int((estimator(f).scores >= high).sum()))] * 5
    results = list(est.stream(still, fps=30))
    ids = [tuple(p.track_ids) for p in results]
    assert ids[0] and len(set(ids)) == 1  # the same people keep their ids on a still scene
    assert all((p.scores >= 0.5).all() for p in results)
    timings = est.timings()
    assert {"preprocess", "infer", "decode", "track"} <= set(timings["stages"]) and timings["fps"] > 0
    assert timings["slowest"] in timings["stages"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((480, 640, 3), np.float32), "uint8"),
        (np.zeros((480, 640), np.uint8), r"H x W x 3"),
        (np.zeros((480, 640, 4), np.uint8), r"H x W x 3"),
        (np.zeros((0, 640, 3), np.uint8), "empty"),
        (42, "numpy array"),
        (None, "got None, not an image"),
    ],
)
def test_bad_frames_are_refused_in_one_line(estimator: PoseEstimator, frame: object, message: str) -> None:
    with pytest.raises(PoseforgeError, match=message):
        estimator(frame)  # type: ignore[arg-type]


def test_bad_options_are_refused(made: Made) -> None:
    for kwargs, message in (
        ({"input_size": "square"}, "input_size"),
        ({"min_score": -1}, "min_score"),
        ({"smooth": True}, "needs track=True"),
        ({"track": True, "tracker": {"min_hits": 0}}, "min_hits"),
        ({"track": True, "tracker": {"no_such_knob": 1}}, "unknown tracker parameter"),
        ({"track": True, "tracker": "min_hits=3"}, "expected TrackerParams or a dict"),
        ({"decoder": {"upsample_factor": 400}}, "upsample_factor"),
        ({"decoder": {"no_such_knob": 1}}, "unknown decoder parameter"),
        ({"input_height": 300}, "input_height 300: expected a multiple of 8 from 64 to 1024"),
        ({"input_height": 2048}, "input_height 2048"),
        ({"input_height": "320"}, "input_height '320'"),
        ({"input_height": True}, "input_height True"),
        ({"input_height": 320, "input_size": "letterbox"}, "input_height sets the native input's height"),
        ({"track": True, "smooth": True, "smoother": TrackerParams()}, "expected OneEuroParams or a dict"),
        ({"track": True, "smooth": True, "smoother": {"beta": -1}}, "beta must be >= 0"),
        ({"track": True, "smooth": True, "smoother": {"speed": 1}}, "unknown smoother parameter"),
    ):
        with pytest.raises(PoseforgeError, match=message):
            PoseEstimator(made.bundle, **kwargs)
    smoothed = PoseEstimator(made.bundle, track=True, smooth=True, smoother={"beta": 0.1}, min_score=np.float32(0.5))
    assert smoothed.smoother.params.beta == 0.1 and smoothed.min_score == 0.5  # a dict of fields; a NumPy number


def test_the_readme_example_runs(made: Made, coco_images: list[Path], tmp_path: Path, capsys) -> None:
    """The README's Python example, run as written with its two paths pointed at real files."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    example = next(b for b in blocks if "PoseEstimator(" in b)
    code = example.replace("dist/human-pose-estimation-0001-int8.tar.gz", str(made.bundle))
    code = code.replace("photo.jpg", str(coco_images[1]))
    assert code != example
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert "people" in capsys.readouterr().out


def test_a_frame_may_be_a_path_and_none_is_named(estimator: PoseEstimator, coco_images: list[Path]) -> None:
    from_path = estimator(coco_images[1])
    from_pixels = estimator(cv2.imread(str(coco_images[1])))
    assert len(from_path) == len(from_pixels) and np.array_equal(from_path.keypoints, from_pixels.keypoints)
    assert from_path.track_ids == [None] * len(from_path)  # untracked: still a list, one per person
    with pytest.raises(PoseforgeError, match=r"got None, not an image \(cv2.imread returns None"):
        estimator(cv2.imread(str(coco_images[1].with_name("no-such-image.jpg"))))
    with pytest.raises(PoseforgeError, match=r"cannot read image no-such-image\.jpg"):
        estimator(coco_images[1].with_name("no-such-image.jpg"))


def test_stream_rates_and_timestamps_are_checked_before_use(made: Made, frames: list[np.ndarray]) -> None:
    est = PoseEstimator(made.bundle, track=True, smooth=True)
    for fps in (0, -30, float("nan"), float("inf"), True, "30"):
        with pytest.raises(PoseforgeError, match="fps must be a number > 0"):
            est.stream(iter(frames), fps=fps)  # refused when called, not at the first frame
    with pytest.raises(PoseforgeError, match="timestamp must be a finite number"):
        est(frames[0], timestamp=float("nan"))
    first = est(frames[0], timestamp=1.0)  # the refused NaN left the clock alone
    assert len(first) == len(est(frames[0], timestamp=1.04))
    with pytest.raises(PoseforgeError, match="timestamps must increase"):
        est(frames[0], timestamp=1.0)


def test_a_refused_timestamp_changes_nothing(made: Made, frames: list[np.ndarray]) -> None:
    """A frame refused for its timestamp is refused before its work: the tracker does not count it,
    so people first seen after an empty first frame still need min_hits real frames for an id."""
    est = PoseEstimator(made.bundle, track=True, smooth=True,
                        tracker={"min_hits": 3, "emit_unconfirmed": True, "cut_threshold": 1.0})  # fmt: skip
    crowd = max(frames, key=lambda f: int((est.__class__(made.bundle)(f).scores >= TrackerParams().high_score).sum()))
    est(np.full_like(crowd, 128), timestamp=0.0)  # the shot's first frame: nobody
    assert set(est(crowd, timestamp=1.0).track_ids) == {-1}  # tentative tracks, one real frame
    for _ in range(2):
        with pytest.raises(PoseforgeError, match="timestamps must increase"):
            est(crowd, timestamp=1.0)
    assert est.times.frames == 2
    assert set(est(crowd, timestamp=2.0).track_ids) == {-1}  # two real frames: still tentative
    assert any(t >= 0 for t in est(crowd, timestamp=3.0).track_ids)  # the third confirms


def test_a_bad_frame_in_a_stream_keeps_the_good_ones_before_it(made: Made, frames: list[np.ndarray]) -> None:
    est = PoseEstimator(made.bundle)
    want = [est(frame) for frame in frames[:5]]

    def source() -> Iterator[np.ndarray | None]:
        yield from frames[:5]  # in flight together when the bad one is read
        yield None

    got = []
    with pytest.raises(PoseforgeError, match="got None, not an image"):
        got.extend(est.stream(source()))
    assert len(got) == 5 and all(np.array_equal(g.keypoints, w.keypoints) for g, w in zip(got, want, strict=True))


def test_devices_cpu_and_auto_give_the_same_poses(made: Made, frames: list[np.ndarray]) -> None:
    cpu, auto = PoseEstimator(made.bundle), PoseEstimator(made.bundle, device="AUTO")
    for frame in frames[:3]:
        a, b = cpu(frame), auto(frame)
        assert len(a) == len(b) and np.allclose(a.keypoints, b.keypoints, atol=1e-3)
    assert auto.settings["device"] == "AUTO" and auto.settings["execution_devices"] == ["CPU"]
    assert len(list(auto.stream(iter(frames[:3])))) == 3 and auto.thread_probe is None  # no CPU probe on AUTO


def test_an_absent_device_is_one_line_naming_the_available_ones(made: Made, frames: list[np.ndarray]) -> None:
    import openvino as ov

    absent = next(d for d in ("NPU", "GPU") if not any(a.startswith(d) for a in ov.Core().available_devices))
    est = PoseEstimator(made.bundle, device=absent)
    with pytest.raises(PoseforgeError, match=rf"device {absent} is not available here: OpenVINO's available_devices "
                       r"are CPU") as error:  # fmt: skip
        est(frames[0])
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def slides(assets: Path) -> Clip:
    """deploy.clips' slideshow in three shots of 8 frames: a crowd, another crowd, the first again."""
    return slideshow(Photos(assets / "coco-val"), shot_frames=8)


def test_tracking_returns_the_tracked_people_unless_asked_for_all(made: Made, slides: Clip) -> None:
    """By default only people with an id come back; emit_unconfirmed=True returns the others too,
    with id -1, and the tracked ones are the same either way."""
    tracked = list(PoseEstimator(made.bundle, track=True).stream(iter(slides.frames)))
    every = list(PoseEstimator(made.bundle, track=True, tracker={"emit_unconfirmed": True}).stream(iter(slides.frames)))
    assert all(t >= 0 for p in tracked for t in p.track_ids)
    assert any(t < 0 for p in every for t in p.track_ids)  # weak people, in every crowd
    for mine, theirs in zip(tracked, every, strict=True):
        kept = theirs.select(np.array(theirs.track_ids, dtype=np.int64) >= 0)
        assert mine.track_ids == kept.track_ids and np.allclose(mine.keypoints, kept.keypoints)


def test_a_scene_cut_in_a_stream_ends_every_track(made: Made, slides: Clip) -> None:
    """The estimator tells the tracker of the cuts it sees in the frames: no id in two shots. With
    cut detection off (cut_threshold 1), the first crowd's ids come back after the second shot
    (8 frames: within max_age): what the cut prevents."""

    def ids_by_shot(**tracker: float) -> list[set[int]]:
        estimator = PoseEstimator(made.bundle, track=True, tracker=tracker)
        shots: list[set[int]] = [set(), set(), set()]
        for shot, poses in zip(slides.shots, estimator.stream(iter(slides.frames)), strict=True):
            shots[shot].update(poses.track_ids)
        return shots

    first, second, third = ids_by_shot()
    assert first and second and third
    assert not (first & second) and not (second & third) and not (first & third)
    first, _, third = ids_by_shot(cut_threshold=1.0)
    assert first & third

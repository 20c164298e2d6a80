"""decode() on bad input and on edge cases: nothing, one keypoint, tiny maps, a crowd."""

import numpy as np
import pytest

from poseforge.decode import DecoderParams, Geometry, Poses, decode
from tests.decode.synthetic import keypoint_ap, make_scene, render_maps

GEOMETRY = Geometry(scale_x=1.0, scale_y=1.0, pad_left=0.0, pad_top=0.0, image_width=80, image_height=48)


def _zeros(h: int = 6, w: int = 10) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((19, h, w), dtype=np.float32), np.zeros((38, h, w), dtype=np.float32)


def _assert_well_formed(poses: Poses, geometry: Geometry) -> None:
    n = len(poses)
    assert poses.keypoints.shape == (n, 18, 3) and poses.coco.shape == (n, 17, 3)
    assert poses.scores.shape == (n,)
    assert np.isfinite(poses.keypoints).all() and np.isfinite(poses.scores).all()
    found = poses.keypoints[..., 2] > 0
    xy = poses.keypoints[found, :2]
    assert (xy >= 0).all() and (xy[:, 0] <= geometry.image_width).all()
    assert (xy[:, 1] <= geometry.image_height).all()
    assert (poses.keypoints[~found] == 0).all()  # missing keypoints are (0, 0, 0)
    assert (np.diff(poses.scores) <= 0).all()  # best first


@pytest.mark.parametrize(("which", "value", "message"), [(0, np.nan, "NaN"), (1, np.inf, "infinite")])
def test_non_finite_maps_are_refused(which: int, value: float, message: str) -> None:
    maps = list(_zeros())
    maps[which][3, 2, 1] = value
    name = ("heatmaps", "pafs")[which]
    with pytest.raises(ValueError, match=rf"{name} contains .*{message}"):
        decode(maps[0], maps[1], GEOMETRY)


@pytest.mark.parametrize(
    ("heatmaps_shape", "pafs_shape", "message"),
    [
        ((18, 6, 10), (38, 6, 10), r"heatmaps must have shape \(19, h, w\)"),
        ((19, 6, 10), (36, 6, 10), r"pafs must have shape \(38, h, w\)"),
        ((1, 19, 6, 10), (1, 38, 6, 10), r"heatmaps must have shape"),
        ((19, 6, 10), (38, 6, 11), "differ in spatial size"),
        ((19, 0, 10), (38, 0, 10), "empty"),
    ],
)
def test_wrong_shapes_are_refused(heatmaps_shape: tuple, pafs_shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(np.zeros(heatmaps_shape, np.float32), np.zeros(pafs_shape, np.float32), GEOMETRY)


def test_non_numeric_maps_are_refused() -> None:
    heatmaps, pafs = _zeros()
    with pytest.raises(ValueError, match="real-valued"):
        decode(heatmaps.astype(np.complex64), pafs, GEOMETRY)


def test_no_person() -> None:
    heatmaps, pafs = _zeros()
    heatmaps[18] = 1.0  # all background
    poses = decode(heatmaps, pafs, GEOMETRY)
    assert len(poses) == 0
    _assert_well_formed(poses, GEOMETRY)


def test_a_single_keypoint_is_no_person() -> None:
    people = np.full((1, 18, 2), np.nan)
    people[0, 0] = (30.0, 20.0)
    heatmaps, pafs = render_maps(people, 6, 10)
    poses = decode(heatmaps, pafs, GEOMETRY)
    assert len(poses) == 0


def test_three_keypoints_make_a_person_in_the_right_place() -> None:
    people = np.full((1, 18, 2), np.nan)
    people[0, 1] = (40.0, 12.0)  # neck
    people[0, 2] = (24.0, 14.0)  # r_sho
    people[0, 3] = (20.0, 34.0)  # r_elb
    heatmaps, pafs = render_maps(people, 6, 10)
    geometry = Geometry(scale_x=2.0, scale_y=2.0, pad_left=4.0, pad_top=0.0, image_width=38, image_height=24)
    poses = decode(heatmaps, pafs, geometry)
    assert len(poses) == 1
    _assert_well_formed(poses, geometry)
    expected = (people[0, 1:4] - [4.0, 0.0]) / 2.0
    np.testing.assert_allclose(poses.keypoints[0, 1:4, :2], expected, atol=1e-3)
    assert (poses.keypoints[0, 1:4, 2] > 0.8).all() and (poses.keypoints[0, 4:, 2] == 0).all()
    assert (poses.keypoints[0, 0] == 0).all()


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 9), (7, 1), (2, 2)])
@pytest.mark.parametrize("factor", [1, 2, 4])
def test_tiny_maps(h: int, w: int, factor: int) -> None:
    rng = np.random.default_rng(h * 10 + w)
    heatmaps = rng.uniform(0, 1, size=(19, h, w)).astype(np.float32)
    pafs = rng.uniform(-1, 1, size=(38, h, w)).astype(np.float32)
    geometry = Geometry(scale_x=0.5, scale_y=0.5, pad_left=0.0, pad_top=0.0, image_width=16 * w, image_height=16 * h)
    poses = decode(heatmaps, pafs, geometry, DecoderParams(upsample_factor=factor))
    _assert_well_formed(poses, geometry)
    if h == w == 1:
        # One peak per keypoint type, all at the one cell's centre: every limb has zero
        # length, so no person, but no crash either.
        assert len(poses) == 0


def test_float64_and_strided_inputs_agree() -> None:
    scene = make_scene(np.random.default_rng(5), 3)
    a = decode(scene.heatmaps, scene.pafs, scene.geometry)
    b = decode(scene.heatmaps.astype(np.float64), scene.pafs.astype(np.float64), scene.geometry)
    # Channel-last buffers seen channel-first, as a runtime may hand them over.
    hwc_heatmaps = np.ascontiguousarray(scene.heatmaps.transpose(1, 2, 0))
    hwc_pafs = np.ascontiguousarray(scene.pafs.transpose(1, 2, 0))
    c = decode(hwc_heatmaps.transpose(2, 0, 1), hwc_pafs.transpose(2, 0, 1), scene.geometry)
    assert len(a) == 3
    for other in (b, c):
        np.testing.assert_array_equal(a.keypoints, other.keypoints)
        np.testing.assert_array_equal(a.scores, other.scores)


def test_a_hundred_people() -> None:
    scene = make_scene(np.random.default_rng(100), 100)
    poses = decode(scene.heatmaps, scene.pafs, scene.geometry)
    _assert_well_formed(poses, scene.geometry)
    assert len(poses) == 100
    assert keypoint_ap([scene], [poses]) >= 0.99


def test_near_duplicate_peaks_are_suppressed_in_image_pixels() -> None:
    from poseforge.decode.decoder import _find_candidates

    heatmaps = np.zeros((19, 6, 10), dtype=np.float32)
    heatmaps[0, 2, 3] = 0.9  # two nose peaks two cells (16 network-input pixels) apart
    heatmaps[0, 2, 5] = 0.6
    for scale, expected in ((4.0, [0.9]), (1.0, [0.9, 0.6])):  # 4 or 16 image pixels apart
        size = dict(image_width=int(80 / scale), image_height=int(48 / scale))
        geometry = Geometry(scale_x=scale, scale_y=scale, pad_left=0, pad_top=0, **size)
        found = _find_candidates(heatmaps, geometry, DecoderParams())
        np.testing.assert_allclose(found.score, expected, rtol=1e-6)


def test_people_are_ranked_by_confidence() -> None:
    scene = make_scene(np.random.default_rng(8), 2, missing_rate=0.0)
    weak = scene.heatmaps.copy()
    # Dim the second person's keypoints: it must rank below the first.
    people = scene.geometry.image_to_grid(scene.keypoints[:, :, :2])
    for kind in range(18):
        x, y = people[1, kind]
        gx, gy = int(np.floor(x)), int(np.floor(y))
        weak[kind, max(gy - 3, 0) : gy + 4, max(gx - 3, 0) : gx + 4] *= 0.5
    poses = decode(weak, scene.pafs, scene.geometry)
    assert len(poses) == 2 and (poses.scores > 0).all() and poses.scores[0] > poses.scores[1]
    first_neck = poses.keypoints[0, 1, :2]
    assert np.hypot(*(first_neck - scene.keypoints[0, 1, :2])) < 1.0


def test_peaks_in_the_padding_are_clipped_to_the_image() -> None:
    from poseforge.decode.decoder import _find_candidates

    heatmaps = np.zeros((19, 6, 10), dtype=np.float32)
    heatmaps[0, 2, 0] = 0.9  # in the left padding: network-input x = 4, image x = -12
    heatmaps[0, 5, 9] = 0.8  # in the bottom-right padding
    geometry = Geometry(scale_x=1.0, scale_y=1.0, pad_left=16, pad_top=0, image_width=56, image_height=40)
    found = _find_candidates(heatmaps, geometry, DecoderParams())
    np.testing.assert_allclose(found.image_xy, [[0.0, 20.0], [56.0, 40.0]], atol=1e-6)


def test_the_worst_maps_decode_in_bounded_memory_and_time() -> None:
    """Garbage from a broken network at the largest input (height 1024, width 4096): every other
    sample of every keypoint map a peak (MAX_PEAKS_PER_TYPE of each type kept), and PAFs that
    support every limb pointing right or down, so that the limb scoring's pairs mostly survive its
    probes. Bounded: MAX_PEAKS_PER_TYPE caps the pairs, whatever the maps hold."""
    import time
    import tracemalloc

    from poseforge.decode.decoder import MAX_PEAKS_PER_TYPE

    heatmaps, pafs = _zeros(1024 // 8, 4096 // 8)
    rows, cols = np.mgrid[0 : heatmaps.shape[1], 0 : heatmaps.shape[2]]
    heatmaps[:18] = np.where((rows + cols) % 2 == 0, 0.9, 0.0)
    pafs[:] = 1.0
    geometry = Geometry(1.0, 1.0, 0.0, 0.0, 4096, 1024)
    tracemalloc.start()
    try:
        start = time.monotonic()
        poses = decode(heatmaps, pafs, geometry)
        seconds = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _assert_well_formed(poses, geometry)
    assert 0 < len(poses) <= 18 * MAX_PEAKS_PER_TYPE
    assert peak < 512 << 20, f"decoding took {peak >> 20} MiB"
    assert seconds < 30

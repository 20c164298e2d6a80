"""The upstream re-implementation (the benchmark baseline) and its agreement with decode()."""

import numpy as np
import pytest

from poseforge.decode import Geometry, decode
from poseforge.reference_decoder import extract_keypoints, reference_decode, to_image_size
from tests.decode.synthetic import Scene, keypoint_ap, make_scene


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    rng = np.random.default_rng(11)
    return [make_scene(rng, n) for n in (1, 3, 6)]


def test_reference_round_trip_ap(scenes: list[Scene]) -> None:
    poses = [reference_decode(s.heatmaps, s.pafs, s.geometry) for s in scenes]
    assert keypoint_ap(scenes, poses) >= 0.97


def test_reference_and_decode_agree(scenes: list[Scene]) -> None:
    for scene in scenes:
        ours = decode(scene.heatmaps, scene.pafs, scene.geometry)
        theirs = reference_decode(scene.heatmaps, scene.pafs, scene.geometry)
        assert len(ours) == len(theirs) == len(scene.keypoints)
        for person in ours.keypoints:
            match = np.argmin(np.hypot(*(theirs.keypoints[:, 1, :2] - person[1, :2]).T))
            other = theirs.keypoints[match]
            np.testing.assert_array_equal(person[:, 2] > 0, other[:, 2] > 0)
            both = person[:, 2] > 0
            # The reference finds integer pixels of a cubic-upsampled map: within 2.5 px.
            assert np.hypot(*(person[both, :2] - other[both, :2]).T).max() < 2.5


def test_to_image_size_maps_cells_to_the_image() -> None:
    # A blob on cell (3, 2) of a map padded by one cell on the left: its centre is at
    # network-input (28, 20), image (20, 20), so the peak pixel is 19 or 20 on each axis.
    yy, xx = np.mgrid[0:5, 0:7]
    maps = np.exp(-((xx - 3) ** 2 + (yy - 2) ** 2) / 1.5).astype(np.float32)[None]
    geometry = Geometry(scale_x=1.0, scale_y=1.0, pad_left=8, pad_top=0, image_width=48, image_height=40)
    full = to_image_size(maps, geometry)
    assert full.shape == (40, 48, 1)
    row, col = np.unravel_index(np.argmax(full[:, :, 0]), full.shape[:2])
    assert row in (19, 20) and col in (19, 20)


def test_extract_keypoints_keeps_upstream_quirks() -> None:
    heatmap = np.zeros((10, 20), dtype=np.float32)
    heatmap[5, 3] = 0.5  # weaker, but leftmost: upstream keeps it
    heatmap[5, 7] = 0.9  # within 6 px to its right: dropped
    heatmap[2, 15:17] = 0.8  # a flat top: upstream's strict test finds no peak
    heatmap[8, 12] = 0.05  # below the threshold
    found = extract_keypoints(heatmap, first_id=10)
    assert found == [(3, 5, 0.5, 10)]

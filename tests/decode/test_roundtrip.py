"""Round trips: render synthetic people into maps, decode them, score with COCOeval."""

import dataclasses

import numpy as np
import pytest

from poseforge.decode import DecoderParams, decode
from tests.decode.synthetic import Scene, keypoint_ap, make_scene

PEOPLE_PER_SCENE = [1, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30]


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    rng = np.random.default_rng(2024)
    return [make_scene(rng, n) for n in PEOPLE_PER_SCENE]


def test_round_trip_ap(scenes: list[Scene]) -> None:
    poses = [decode(s.heatmaps, s.pafs, s.geometry) for s in scenes]
    assert [len(p) for p in poses] == PEOPLE_PER_SCENE
    assert keypoint_ap(scenes, poses) >= 0.99


@pytest.mark.parametrize("factor", [2, 4])
def test_round_trip_ap_with_upsampled_peak_search(scenes: list[Scene], factor: int) -> None:
    few = scenes[:7]  # the dense upsampling product grows fast with the grid: keep it quick
    params = DecoderParams(upsample_factor=factor)
    poses = [decode(s.heatmaps, s.pafs, s.geometry, params) for s in few]
    assert keypoint_ap(few, poses) >= 0.99


def test_round_trip_places_keypoints_exactly(scenes: list[Scene]) -> None:
    """The maps are exact Gaussians, so the log-parabola fit recovers positions exactly."""
    for scene in scenes[:8]:
        poses = decode(scene.heatmaps, scene.pafs, scene.geometry)
        for person in scene.keypoints:
            # The decoded person with this neck.
            match = np.argmin(np.hypot(*(poses.keypoints[:, 1, :2] - person[1, :2]).T))
            found = poses.keypoints[match]
            present = person[:, 2] > 0
            assert (found[present, 2] > 0).all() and (found[~present, 2] == 0).all()
            np.testing.assert_allclose(found[present, :2], person[present, :2], atol=0.01)


def test_round_trip_can_fail(scenes: list[Scene]) -> None:
    """The metric bites: a one-cell geometry error or coarse peaks cost the AP threshold."""
    shifted = [dataclasses.replace(s.geometry, pad_left=s.geometry.pad_left + 8) for s in scenes]
    poses = [decode(s.heatmaps, s.pafs, g) for s, g in zip(scenes, shifted, strict=True)]
    assert keypoint_ap(scenes, poses) < 0.5
    coarse = DecoderParams(upsample_factor=1, refine_peaks=False)
    poses = [decode(s.heatmaps, s.pafs, s.geometry, coarse) for s in scenes]
    assert keypoint_ap(scenes, poses) < 0.99
    # Losing the last person of each scene costs recall.
    poses = [decode(s.heatmaps, s.pafs, s.geometry) for s in scenes]
    trimmed = [
        dataclasses.replace(p, keypoints=p.keypoints[:-1], coco=p.coco[:-1], scores=p.scores[:-1]) for p in poses
    ]
    assert keypoint_ap(scenes, trimmed) < 0.99

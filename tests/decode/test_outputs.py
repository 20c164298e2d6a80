"""Geometry, Poses and the COCO results helper."""

import json

import numpy as np
import pytest

from poseforge.decode import DecoderParams, Geometry, Poses, to_coco_results
from poseforge.keypoints import COCO_KEYPOINT_NAMES, KEYPOINT_NAMES

# OpenPose short names -> COCO names, written out independently of OPENPOSE_TO_COCO.
_COCO_NAME = {
    "nose": "nose", "r_eye": "right_eye", "l_eye": "left_eye", "r_ear": "right_ear",
    "l_ear": "left_ear", "r_sho": "right_shoulder", "l_sho": "left_shoulder",
    "r_elb": "right_elbow", "l_elb": "left_elbow", "r_wri": "right_wrist", "l_wri": "left_wrist",
    "r_hip": "right_hip", "l_hip": "left_hip", "r_knee": "right_knee", "l_knee": "left_knee",
    "r_ank": "right_ankle", "l_ank": "left_ankle",
}  # fmt: skip


def test_geometry_maps_cell_centres_and_round_trips() -> None:
    g = Geometry(scale_x=0.5, scale_y=0.25, pad_left=8, pad_top=16, image_width=100, image_height=200)
    # Cell (0, 0)'s centre is network-input pixel (4, 4): (4 - 8) / 0.5, (4 - 16) / 0.25.
    np.testing.assert_allclose(g.grid_to_image(np.array([0.5, 0.5])), [-8.0, -48.0])
    pts = np.random.default_rng(0).uniform(-5, 50, size=(7, 2))
    np.testing.assert_allclose(g.image_to_grid(g.grid_to_image(pts)), pts)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale_x": 0.0},
        {"scale_y": -1.0},
        {"pad_left": float("nan")},
        {"scale_x": float("inf")},
        {"image_width": 0},
    ],
)
def test_geometry_rejects_nonsense(kwargs: dict) -> None:
    base = dict(scale_x=1.0, scale_y=1.0, pad_left=0.0, pad_top=0.0, image_width=10, image_height=10)
    with pytest.raises(ValueError):
        Geometry(**{**base, **kwargs})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"heatmap_threshold": 0.0},
        {"paf_samples": 1},
        {"min_paf_success_ratio": 1.0},
        {"min_keypoints": 1},
        {"upsample_factor": 0},
        {"peak_suppression_radius": -1.0},
    ],
)
def test_params_reject_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DecoderParams(**kwargs)


def test_params_defaults_are_upstream() -> None:
    p = DecoderParams()
    assert (p.heatmap_threshold, p.peak_suppression_radius, p.paf_samples) == (0.1, 6.0, 10)
    assert (p.min_paf_score, p.min_paf_success_ratio) == (0.05, 0.8)
    assert (p.min_keypoints, p.min_mean_score) == (3, 0.2)


def test_poses_coco_form_drops_the_neck_and_maps_by_name() -> None:
    keypoints = np.zeros((1, 18, 3))
    keypoints[0, :, 0] = np.arange(18)  # x = OpenPose index, to trace where each one lands
    keypoints[0, :, 2] = 1
    poses = Poses.from_openpose(keypoints, np.array([2.0]))
    assert poses.coco.shape == (1, 17, 3) and len(poses) == 1
    for coco_index, (x, _, _) in enumerate(poses.coco[0]):
        assert _COCO_NAME[KEYPOINT_NAMES[int(x)]] == COCO_KEYPOINT_NAMES[coco_index]
    assert 1 not in poses.coco[0, :, 0]  # the neck


def test_poses_shape_checks_and_empty() -> None:
    empty = Poses.empty()
    assert empty.keypoints.shape == (0, 18, 3) and empty.coco.shape == (0, 17, 3) and len(empty) == 0
    with pytest.raises(ValueError):
        Poses(keypoints=np.zeros((2, 18, 3)), coco=np.zeros((2, 17, 3)), scores=np.zeros(3))


def test_to_coco_results_format() -> None:
    keypoints = np.zeros((2, 18, 3))
    keypoints[0, 0] = (10.5, 20.25, 0.9)  # nose
    keypoints[1, 17] = (3.0, 4.0, 0.5)  # l_ear
    poses = Poses.from_openpose(keypoints, np.array([1.5, 0.5]))
    results = to_coco_results(poses, np.int64(42))
    assert len(results) == 2
    first = results[0]
    assert set(first) == {"image_id", "category_id", "keypoints", "score"}
    assert first["image_id"] == 42 and type(first["image_id"]) is int
    assert first["category_id"] == 1 and first["score"] == 1.5
    assert len(first["keypoints"]) == 51 and all(type(v) is float for v in first["keypoints"])
    assert first["keypoints"][:3] == [10.5, 20.25, 0.9]
    assert results[1]["keypoints"][3 * 3 : 3 * 3 + 3] == [3.0, 4.0, 0.5]  # COCO 3 = left_ear
    json.dumps(results)  # plain JSON types only
    assert to_coco_results(Poses.empty(), 1) == []

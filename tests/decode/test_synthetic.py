"""The synthetic encoder itself renders what upstream training renders."""

import numpy as np

from poseforge.keypoints import LIMB_PAF_CHANNELS, LIMBS
from tests.decode.synthetic import SIGMA, make_scene, render_maps


def test_heatmap_gaussian_at_cell_centres_max_over_people_and_background() -> None:
    people = np.full((2, 18, 2), np.nan)
    people[0, 0] = (20.0, 12.0)
    people[1, 0] = (30.0, 12.0)
    heatmaps, pafs = render_maps(people, 4, 6)
    # Cell (gy, gx) is evaluated at network-input (8 gx + 4, 8 gy + 4).
    gx, gy = 2, 1
    d1 = (8 * gx + 4 - 20.0) ** 2 + (8 * gy + 4 - 12.0) ** 2
    d2 = (8 * gx + 4 - 30.0) ** 2 + (8 * gy + 4 - 12.0) ** 2
    expected = max(np.exp(-d1 / (2 * SIGMA**2)), np.exp(-d2 / (2 * SIGMA**2)))
    assert abs(heatmaps[0, gy, gx] - expected) < 1e-6
    np.testing.assert_allclose(heatmaps[18], np.clip(1 - heatmaps[:18].max(0), 0, 1), atol=1e-6)
    assert not heatmaps[1:18].any() and not pafs.any()


def test_paf_unit_vector_near_the_segment_averaged_where_people_overlap() -> None:
    limb = 6  # neck -> r_hip
    a, b = LIMBS[limb]
    cx, cy = LIMB_PAF_CHANNELS[limb]
    people = np.full((2, 18, 2), np.nan)
    people[0, a], people[0, b] = (12.0, 20.0), (68.0, 20.0)  # along +x on grid row y = 2.5
    people[1, a], people[1, b] = (44.0, 4.0), (44.0, 60.0)  # along +y on grid column x = 5.5
    _, pafs = render_maps(people, 9, 10)
    np.testing.assert_array_equal(pafs[[cx, cy], 2, 3], [1.0, 0.0])
    # Within 1 cell of the horizontal segment: rows 1..3 (centres 1.5..3.5), not row 0 or 4.
    assert pafs[cx, 1, 3] == 1.0 and pafs[cx, 3, 3] == 1.0
    assert pafs[cx, 0, 3] == 0.0 and pafs[cx, 4, 3] == 0.0
    # Where both cover a cell the vectors are averaged.
    np.testing.assert_allclose(pafs[[cx, cy], 2, 5], [0.5, 0.5])
    np.testing.assert_allclose(pafs[[cx, cy], 6, 5], [0.0, 1.0])


def test_scenes_are_seeded_and_varied() -> None:
    a = make_scene(np.random.default_rng(7), 12)
    b = make_scene(np.random.default_rng(7), 12)
    np.testing.assert_array_equal(a.heatmaps, b.heatmaps)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert a.keypoints.shape == (12, 18, 3)
    present = a.keypoints[..., 2] > 0
    assert (present[:, 1]).all()  # every person has a neck
    assert (~present).any()  # some keypoints are missing


def test_scenes_overlap_and_touch_the_border() -> None:
    overlapping = cut = 0
    for seed in range(4):
        scene = make_scene(np.random.default_rng(seed), 20)
        g = scene.geometry
        boxes = []
        for person in scene.keypoints:
            xy = person[person[:, 2] > 0, :2]
            boxes.append((*xy.min(0), *xy.max(0)))
            # A person near the border loses the keypoints beyond it.
            cut += bool(
                (person[:, 2] == 0).sum() > 0
                and (xy.min() < 0.05 * g.image_width or xy[:, 0].max() > 0.95 * g.image_width)
            )
        for i in range(len(boxes)):
            for j in range(i):
                x0, y0 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
                x1, y1 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
                overlapping += x1 > x0 and y1 > y0
    assert overlapping >= 10 and cut >= 3, (overlapping, cut)

"""Drawing: each limb in its colour (or its track's), keypoints as white dots, nothing for what is missing."""

import numpy as np

from poseforge.decode import Poses
from poseforge.draw import LIMB_COLOURS, TRACK_COLOURS, TRACK_PALETTE, draw_poses
from poseforge.keypoints import NUM_KEYPOINTS, SKELETON

ROW = 25  # pixels between the people laid out below
LEFT, RIGHT = 40, 200


def _one_limb_each(limbs: list[int]) -> Poses:
    """Person i holds only the two ends of limb limbs[i], drawn from LEFT to RIGHT on row i."""
    keypoints = np.zeros((len(limbs), NUM_KEYPOINTS, 3))
    for person, limb in enumerate(limbs):
        a, b = SKELETON[limb]
        y = ROW * (person + 1)
        keypoints[person, a] = (LEFT, y, 0.9)
        keypoints[person, b] = (RIGHT, y, 0.8)
    return Poses.from_openpose(keypoints, np.ones(len(limbs)))


def _pixel(image: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in image[y, x])


def test_each_limb_in_its_own_colour_with_white_keypoints() -> None:
    limbs = list(range(len(SKELETON)))
    canvas = np.zeros((ROW * (len(limbs) + 1), 240, 3), np.uint8)
    drawn = draw_poses(canvas, _one_limb_each(limbs))
    for person, limb in enumerate(limbs):
        y = ROW * (person + 1)
        assert _pixel(drawn, (LEFT + RIGHT) // 2, y) == LIMB_COLOURS[limb]
        assert _pixel(drawn, LEFT, y) == _pixel(drawn, RIGHT, y) == (255, 255, 255)
        assert _pixel(drawn, (LEFT + RIGHT) // 2, y + ROW // 2) == (0, 0, 0)  # between two people: nothing
    assert not canvas.any()  # a copy was drawn on


def test_a_limb_with_a_missing_end_is_not_drawn() -> None:
    poses = _one_limb_each([0])
    keypoints = poses.keypoints.copy()
    keypoints[0, SKELETON[0][1]] = 0  # the far end not found
    drawn = draw_poses(np.zeros((60, 240, 3), np.uint8), Poses.from_openpose(keypoints, poses.scores))
    assert _pixel(drawn, LEFT, ROW) == (255, 255, 255)
    assert _pixel(drawn, (LEFT + RIGHT) // 2, ROW) == (0, 0, 0)
    assert not drawn[:, RIGHT - 10 :].any()


def test_a_tracked_person_is_drawn_in_its_track_colour() -> None:
    limbs = [0, 5, 9]
    tracked = _one_limb_each(limbs)
    ids = np.array([1, -1, 1 + TRACK_COLOURS])  # the third shares the first's colour: ids cycle the palette
    poses = Poses(tracked.keypoints, tracked.coco, tracked.scores, ids)
    drawn = draw_poses(np.zeros((ROW * 4, 240, 3), np.uint8), poses)
    middle = (LEFT + RIGHT) // 2
    assert _pixel(drawn, middle, ROW) == TRACK_PALETTE[1]
    assert _pixel(drawn, middle, 2 * ROW) == LIMB_COLOURS[5]  # untracked (-1): limb colours
    assert _pixel(drawn, middle, 3 * ROW) == TRACK_PALETTE[1]
    assert len(set(TRACK_PALETTE)) == TRACK_COLOURS


def test_drawing_in_place_and_on_nobody() -> None:
    frame = np.full((60, 240, 3), 7, np.uint8)
    assert np.array_equal(draw_poses(frame, Poses.empty()), frame)
    drawn = draw_poses(frame, _one_limb_each([3]), copy=False)
    assert drawn is frame and _pixel(frame, (LEFT + RIGHT) // 2, ROW) == LIMB_COLOURS[3]

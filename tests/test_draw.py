"""Drawing: each limb in its colour (or its track's), keypoints as white dots, nothing for what is missing,
tracked people's ids above their heads."""

import numpy as np
import pytest

from poseforge.decode import Poses
from poseforge.draw import LIMB_COLOURS, TRACK_COLOURS, TRACK_PALETTE, draw_poses, label_anchor
from poseforge.errors import PoseforgeError
from poseforge.keypoints import NECK, NUM_KEYPOINTS, SKELETON

NOSE = 0

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


def test_a_crowd_is_drawn_as_each_of_its_lines_drawn_alone() -> None:
    """Every limb and dot of 12 overlapping people, pixel for pixel what one cv2.line per limb (limb
    by limb, in its colour) and then one per keypoint gives: the batched drawing draws them all."""
    import cv2

    rng = np.random.default_rng(7)
    keypoints = np.concatenate(
        [rng.uniform(0, 320, (12, NUM_KEYPOINTS, 2)), rng.uniform(0.1, 1, (12, NUM_KEYPOINTS, 1))], -1
    )
    keypoints[rng.uniform(size=(12, NUM_KEYPOINTS)) < 0.3] = 0  # some keypoints missing
    poses = Poses.from_openpose(keypoints, np.ones(12))
    canvas = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    expected = canvas.copy()
    xy = np.rint(keypoints[..., :2]).astype(int)
    found = keypoints[..., 2] > 0
    for limb, (a, b) in enumerate(SKELETON):
        for person in np.flatnonzero(found[:, a] & found[:, b]):
            cv2.line(expected, tuple(xy[person, a]), tuple(xy[person, b]), LIMB_COLOURS[limb], 2, cv2.LINE_8)
    for x, y in xy[found]:
        cv2.line(expected, (x, y), (x, y), (255, 255, 255), 6, cv2.LINE_8)
    assert np.array_equal(draw_poses(canvas, poses, thickness=2), expected)


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


def test_a_tracked_persons_id_is_written_above_the_head_and_kept_in_the_image() -> None:
    """The id's pixels, in the track colour, lie above the highest head keypoint; a head at the
    top edge still gets its label inside the image; untracked people and ids=False get none."""
    keypoints = np.zeros((2, NUM_KEYPOINTS, 3))
    keypoints[0, NOSE] = (60, 80, 0.9)
    keypoints[0, NECK] = (60, 100, 0.9)
    keypoints[1, NOSE] = (180, 2, 0.9)  # at the top edge
    keypoints[1, NECK] = (180, 20, 0.9)
    people = Poses.from_openpose(keypoints, np.ones(2))
    tracked = Poses(people.keypoints, people.coco, people.scores, np.array([3, 4]))
    canvas = np.zeros((120, 240, 3), np.uint8)
    drawn = draw_poses(canvas, tracked)
    label = (drawn != draw_poses(canvas, tracked, ids=False)).any(axis=2)  # what the ids add
    for person, track in enumerate((3, 4)):
        x, y = label_anchor(keypoints[person])
        assert (x, y) == (keypoints[person, NOSE, 0], keypoints[person, NOSE, 1])
        rows, _ = np.nonzero(label[:, x - 30 : x + 30])
        in_colour = label[:, x - 30 : x + 30] & np.all(drawn[:, x - 30 : x + 30] == TRACK_PALETTE[track], axis=2)
        assert in_colour.sum() >= 20, (person, in_colour.sum())  # the digit, whole, in the track colour
        if person == 0:
            assert rows.max() < y  # above the head
    assert label[:, :30].sum() == label[:, 90:150].sum() == 0  # nowhere else
    untracked = Poses(people.keypoints, people.coco, people.scores, np.array([-1, -1]))
    assert np.array_equal(draw_poses(canvas, untracked), draw_poses(canvas, people))
    assert label_anchor(np.zeros((NUM_KEYPOINTS, 3))) is None


def test_what_cannot_be_drawn_is_refused_in_one_line() -> None:
    frame = np.zeros((60, 240, 3), np.uint8)
    poses = _one_limb_each([3])
    cases = {
        "float pixels": ((frame.astype(np.float32), poses), {}, "expected uint8 pixels, got float32"),
        "grey pixels": ((frame[..., 0], poses), {}, r"expected H x W x 3 BGR pixels, got shape \(60, 240\)"),
        "no image": ((None, poses), {}, "got None, not an image"),
        "a path": (("photo.jpg", poses), {}, "expected a BGR image .* got str"),
        "no poses": ((frame, None), {}, "poses must be Poses .* got NoneType"),
        "thickness -1": ((frame, poses), {"thickness": -1}, "thickness must be an integer from 1 to 1000 pixels"),
        "thickness 0": ((frame, poses), {"thickness": 0}, "thickness must be an integer from 1 to 1000 pixels"),
        "thickness 2.5": ((frame, poses), {"thickness": 2.5}, r"thickness .* got 2\.5"),
        "thickness 10**6": ((frame, poses), {"thickness": 10**6}, "thickness .* got 1000000"),
    }
    for case, (args, options, message) in cases.items():
        with pytest.raises(PoseforgeError, match=message) as refused:
            draw_poses(*args, **options)
        assert "\n" not in str(refused.value), case
    assert not frame.any()


def test_in_place_drawing_on_a_crop_and_refusal_of_what_cannot_be_drawn_in_place() -> None:
    """copy=False draws on the array itself: a crop of a frame is drawn on in place; a read-only
    array and a flipped view, which OpenCV could only draw on a copy of, are refused, untouched."""
    poses = _one_limb_each([3])
    frame = np.zeros((100, 300, 3), np.uint8)
    crop = frame[10:70, 20:260]
    assert draw_poses(crop, poses, copy=False) is crop
    assert _pixel(frame, 20 + (LEFT + RIGHT) // 2, 10 + ROW) == LIMB_COLOURS[3]  # drawn into the frame
    read_only = np.zeros((60, 240, 3), np.uint8)
    read_only.setflags(write=False)
    flipped = np.zeros((60, 240, 3), np.uint8)[:, ::-1]
    for image, message in ((read_only, "this one is read-only"), (flipped, "cannot draw on in place")):
        with pytest.raises(PoseforgeError, match=r"draw_poses\(copy=False\) draws on the image itself, .*" + message):
            draw_poses(image, poses, copy=False)
        assert not image.any()
        assert _pixel(draw_poses(image, poses), (LEFT + RIGHT) // 2, ROW) == LIMB_COLOURS[3]  # a copy: drawn

"""Drawing decoded people on images (numpy + cv2 only: prediction uses it too).

Untracked people get a colour per limb; tracked people (Poses.track_ids) a colour per track,
so that one person keeps one colour through a video, and their id written above the head in it.
"""

from __future__ import annotations

import colorsys
import numbers

import cv2
import numpy as np

from poseforge.decode import Poses
from poseforge.errors import PoseforgeError
from poseforge.images import check_frame
from poseforge.keypoints import KEYPOINT_NAMES, SKELETON

TRACK_COLOURS = 12  # distinct colours cycled through the track ids
# Thickest line drawn: above the default for the largest image allowed (about 110), below OpenCV's
# limit (32767) for the keypoints' dots, which are 2 * thickness + 2 wide.
MAX_THICKNESS = 1000


def _palette(n: int) -> list[tuple[int, int, int]]:
    """n well-separated BGR colours."""
    return [tuple(int(255 * c) for c in reversed(colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 1.0))) for i in range(n)]


LIMB_COLOURS = _palette(len(SKELETON))
# Successive ids 5/12 of the hue circle apart (5 and 12 are coprime: every colour is used).
_LIMB_A, _LIMB_B = (np.array(ends) for ends in zip(*SKELETON, strict=True))
TRACK_PALETTE = [_palette(TRACK_COLOURS)[(i * 5) % TRACK_COLOURS] for i in range(TRACK_COLOURS)]
# Where a track's id is written: above the highest of these found (the head, else the neck).
HEAD = tuple(KEYPOINT_NAMES.index(name) for name in ("nose", "neck", "r_eye", "l_eye", "r_ear", "l_ear"))
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_poses(
    image: np.ndarray, poses: Poses, thickness: int | None = None, copy: bool = True, ids: bool = True
) -> np.ndarray:
    """A BGR image with every person's skeleton and keypoints drawn, and each tracked person's id
    (unless `ids` is False): a copy, or (copy=False) the image itself drawn on.

    `image` is a BGR uint8 frame within the bounds of images.check_frame, `poses` a Poses, and
    `thickness` an integer from 1 to MAX_THICKNESS pixels (None: from the image size); anything
    else is a one-line PoseforgeError. With copy=False the image must be one OpenCV can draw on
    in place: writable, each row's pixels side by side (a crop of a frame is); a read-only array
    or a flipped or transposed view is refused, not drawn on a copy the caller would never see.

    One polylines call per colour: a call per limb costs more than drawing it. Keypoints are
    zero-length round-capped lines, which is how OpenCV draws a filled dot in a batch.
    """
    check_frame(image, "draw_poses image")
    if not isinstance(poses, Poses):
        raise PoseforgeError(f"draw_poses: poses must be Poses (an estimator's result), got {type(poses).__name__}")
    if not copy:
        _check_drawable_in_place(image)
    canvas = image.copy() if copy else image
    thickness = max(2, round(max(image.shape[:2]) / 300)) if thickness is None else _check_thickness(thickness)
    if len(poses.keypoints) == 0:
        return canvas
    xy = np.rint(poses.keypoints[..., :2]).astype(np.int32)
    found = poses.keypoints[..., 2] > 0
    drawn = found[:, _LIMB_A] & found[:, _LIMB_B]  # (people, limbs)
    segments = np.stack([xy[:, _LIMB_A], xy[:, _LIMB_B]], axis=2)  # (people, limbs, 2 ends, xy)
    tracks = np.array([-1 if t is None else t for t in poses.track_ids], dtype=np.int64)
    for limb, colour in enumerate(LIMB_COLOURS):  # untracked people: a colour per limb
        _lines(canvas, segments[drawn[:, limb] & (tracks < 0), limb], colour, thickness)
    for person in np.flatnonzero(tracks >= 0):  # tracked people: a colour per track
        _lines(canvas, segments[person, drawn[person]], TRACK_PALETTE[tracks[person] % TRACK_COLOURS], thickness)
    dots = np.repeat(xy[found][:, None, :], 2, axis=1)
    _lines(canvas, dots, (255, 255, 255), 2 * thickness + 2)
    if ids:
        for person in np.flatnonzero(tracks >= 0):
            _label(canvas, str(tracks[person]), label_anchor(poses.keypoints[person]), TRACK_PALETTE[tracks[person] %
                   TRACK_COLOURS], thickness)  # fmt: skip
    return canvas


def _check_thickness(thickness: object) -> int:
    if isinstance(thickness, numbers.Integral) and not isinstance(thickness, bool) and 1 <= thickness <= MAX_THICKNESS:
        return int(thickness)
    raise PoseforgeError(f"draw_poses: thickness must be an integer from 1 to {MAX_THICKNESS} pixels (None: from "
                         f"the image size), got {repr(thickness)[:40]}")  # fmt: skip


def _check_drawable_in_place(image: np.ndarray) -> None:
    """OpenCV draws on an array in place only if it may write it and each row's pixels lie side by
    side (rows may be apart: a crop); anything else it would copy, and the drawing be lost."""
    if not image.flags.writeable:
        raise PoseforgeError("draw_poses(copy=False) draws on the image itself, and this one is read-only: "
                             "pass copy=True (the default) for a drawn copy")  # fmt: skip
    if image.strides[1:] != (3, 1) or image.strides[0] < 3 * image.shape[1]:
        raise PoseforgeError(f"draw_poses(copy=False) draws on the image itself, and this one is a view OpenCV "
                             f"cannot draw on in place (strides {image.strides}: flipped or transposed): pass "
                             "copy=True (the default) for a drawn copy, or np.ascontiguousarray(image)")  # fmt: skip


def label_anchor(keypoints: np.ndarray) -> tuple[int, int] | None:
    """Where a person's id goes: the bottom centre of its text, just above the highest found head
    keypoint (or the neck), else above the highest found keypoint; None for no keypoint."""
    found = keypoints[:, 2] > 0
    if not found.any():
        return None
    head = [k for k in HEAD if found[k]]
    points = keypoints[head if head else np.flatnonzero(found), :2]
    return round(float(points[:, 0].mean())), round(float(points[:, 1].min()))


def _label(canvas: np.ndarray, text: str, anchor: tuple[int, int] | None, colour: tuple[int, int, int],
           thickness: int) -> None:  # fmt: skip
    """`text` centred above `anchor` in `colour`, outlined in black so it reads on any background;
    kept inside the image's top edge."""
    if anchor is None:
        return
    scale, weight = thickness / 2, thickness
    (width, height), _ = cv2.getTextSize(text, LABEL_FONT, scale, weight)
    x = anchor[0] - width // 2
    y = max(anchor[1] - 4 * thickness, height + weight + 1)
    cv2.putText(canvas, text, (x, y), LABEL_FONT, scale, (0, 0, 0), weight + 2, cv2.LINE_8)
    cv2.putText(canvas, text, (x, y), LABEL_FONT, scale, colour, weight, cv2.LINE_8)


def _lines(canvas: np.ndarray, segments: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    # (k, 2, 2) int32: k two-point lines, taken by OpenCV as the list of k arrays it would otherwise be
    # handed (the same pixels, without making the list). 8-connected, as upstream's demo draws:
    # anti-aliasing costs twice the time.
    if len(segments):
        cv2.polylines(canvas, segments, False, colour, thickness, cv2.LINE_8)

"""Drawing decoded people on images (numpy + cv2 only: prediction uses it too).

Untracked people get a colour per limb; tracked people (Poses.track_ids) a colour per track,
so that one person keeps one colour through a video.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from poseforge.decode import Poses
from poseforge.keypoints import SKELETON

TRACK_COLOURS = 12  # distinct colours cycled through the track ids


def _palette(n: int) -> list[tuple[int, int, int]]:
    """n well-separated BGR colours."""
    return [tuple(int(255 * c) for c in reversed(colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 1.0))) for i in range(n)]


LIMB_COLOURS = _palette(len(SKELETON))
# Successive ids 5/12 of the hue circle apart (5 and 12 are coprime: every colour is used).
_LIMB_A, _LIMB_B = (np.array(ends) for ends in zip(*SKELETON, strict=True))
TRACK_PALETTE = [_palette(TRACK_COLOURS)[(i * 5) % TRACK_COLOURS] for i in range(TRACK_COLOURS)]


def draw_poses(image: np.ndarray, poses: Poses, thickness: int | None = None, copy: bool = True) -> np.ndarray:
    """A BGR image with every person's skeleton and keypoints drawn: a copy, or (copy=False) the
    image itself drawn on.

    One polylines call per colour: a call per limb costs more than drawing it. Keypoints are
    zero-length round-capped lines, which is how OpenCV draws a filled dot in a batch.
    """
    canvas = image.copy() if copy else image
    thickness = thickness or max(2, round(max(image.shape[:2]) / 300))
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
    return canvas


def _lines(canvas: np.ndarray, segments: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    if len(segments):  # 8-connected, as upstream's demo draws: anti-aliasing costs twice the time
        cv2.polylines(canvas, list(segments), False, colour, thickness, cv2.LINE_8)

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
TRACK_PALETTE = [_palette(TRACK_COLOURS)[(i * 5) % TRACK_COLOURS] for i in range(TRACK_COLOURS)]


def draw_poses(image: np.ndarray, poses: Poses, thickness: int | None = None) -> np.ndarray:
    """A copy of a BGR image with every person's skeleton and keypoints drawn."""
    canvas = image.copy()
    thickness = thickness or max(2, round(max(image.shape[:2]) / 300))
    for index, person in enumerate(poses.keypoints):
        track = None if poses.track_ids is None else int(poses.track_ids[index])
        found = person[:, 2] > 0
        for limb_colour, (a, b) in zip(LIMB_COLOURS, SKELETON, strict=True):
            if found[a] and found[b]:
                colour = limb_colour if track is None or track < 0 else TRACK_PALETTE[track % TRACK_COLOURS]
                pa, pb = (tuple(round(v) for v in person[k, :2]) for k in (a, b))
                cv2.line(canvas, pa, pb, colour, thickness, cv2.LINE_AA)
        for x, y, _ in person[found]:
            cv2.circle(canvas, (round(x), round(y)), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return canvas

"""Scene cuts, told from the frames themselves: the cue that ends every track.

    cuts = SceneCuts(threshold=0.1)
    for frame in video:
        cut = cuts(thumbnail(frame))    # True: this frame starts a new shot

A frame is summed up by a 16x12 grey thumbnail (made where the frame is prepared for the
network, off the thread that decodes and tracks); two consecutive frames differ by the mean
absolute difference of their thumbnails over 255. A camera moving over a scene moves a
thumbnail little (each of its pixels averages 40 x 40 of a 640x480 frame), while two different
scenes differ everywhere (the README's Tracking section has the figures that set
TrackerParams.cut_threshold). The thumbnail is the same for any frame size, so a resized copy of
a scene is the same scene.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL = (16, 12)  # width, height: coarse enough that motion barely moves it
# Linear sampling to this size first, then area averaging by a whole factor: OpenCV's area average
# at a fractional factor reads the whole frame, and costs grow with its size; this does not.
SAMPLED = (8 * THUMBNAIL[0], 8 * THUMBNAIL[1])


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A BGR uint8 frame summed up as a (12, 16) grey float32 thumbnail, 0..255."""
    sampled = cv2.resize(frame, SAMPLED, interpolation=cv2.INTER_LINEAR)
    grey = cv2.cvtColor(sampled, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_change(before: np.ndarray, after: np.ndarray) -> float:
    """How much two thumbnails differ, in [0, 1]: their mean absolute difference over 255."""
    return float(np.abs(after - before).mean() / 255)


class SceneCuts:
    """Says of each frame's thumbnail, in order, whether it starts a new shot: whether its change
    from the previous one exceeds `threshold`. The first frame is no cut: nothing came before it."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._last: np.ndarray | None = None
        self.change: float | None = None  # the last frame's change (None for the first)

    def __call__(self, thumb: np.ndarray) -> bool:
        last, self._last = self._last, thumb
        self.change = None if last is None else frame_change(last, thumb)
        return self.change is not None and self.change > self.threshold

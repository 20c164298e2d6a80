"""Keypoints that do not jitter: a One-Euro filter per keypoint coordinate of each tracked person.

    tracker, smoother = PoseTracker(), PoseSmoother()
    for timestamp, frame in video:
        poses = decode(...)
        ids = tracker.update(poses)
        smoothed = smoother(poses, ids, timestamp)   # same people, same order

The One-Euro filter (Casiez, Roussel and Vogel, "1 Euro Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012) is a first-order low-pass filter whose
cutoff rises with the signal's speed: a still keypoint is smoothed hard (the network's
frame-to-frame noise goes), a moving one lightly (little lag). Each x and each y of each
keypoint of each track has its own filter, as in upstream's demo; here they run as one array
operation per frame.

A filter lives only while its keypoint is seen in consecutive frames of its track: a keypoint
that is missing in a frame (its person missing included) restarts from its next measurement,
since the filter's state says nothing about where it went meanwhile. So the smoother holds state
for the tracks of the last frame only, and a track the tracker dropped is already forgotten.
Missing keypoints (score 0; the decoder's (0, 0, 0)), people without a track (id -1) and
scores pass through unchanged.

Pure NumPy, like the decoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from poseforge.decode import Poses
from poseforge.keypoints import NUM_KEYPOINTS

from .tracking import as_keypoints


@dataclass(frozen=True)
class OneEuroParams:
    """The filter's knobs; the defaults are upstream's.

    Upstream Lightweight OpenPose's modules/one_euro_filter.py defines
    OneEuroFilter(freq=15, mincutoff=1, beta=0.05, dcutoff=1) and its demo (modules/pose.py,
    track_poses with smooth=True) uses those defaults on keypoints in original-image pixels, as
    here, so the same values smooth the same way its users know. min_cutoff = 1 Hz and
    d_cutoff = 1 Hz are also the paper's suggested starting points; beta is in 1/pixel because
    the coordinates are pixels. Upstream calls the filter once per frame at the fixed `freq`
    whatever the camera's rate; give timestamps to use the real frame intervals instead.
    """

    # Upstream's values (modules/one_euro_filter.py, as also vendored verbatim in e.g.
    # facebookresearch/pifuhd, lightweight_human_pose_estimation_pytorch/modules/one_euro_filter.py).
    freq: float = 15.0  # Hz: the frame rate assumed when no timestamp is given
    min_cutoff: float = 1.0  # Hz: the cutoff of a still keypoint
    beta: float = 0.05  # cutoff increase per pixel/second of (smoothed) speed
    d_cutoff: float = 1.0  # Hz: the cutoff of the speed estimate's own low-pass filter

    def __post_init__(self) -> None:
        for name in ("freq", "min_cutoff", "d_cutoff"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"OneEuroParams.{name} must be positive, got {value!r}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"OneEuroParams.beta must be >= 0, got {self.beta!r}")


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """The exponential smoothing factor of a first-order low-pass filter at `cutoff` Hz for a
    sample interval of `dt` seconds (the paper's alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi f_c))."""
    r = 2 * math.pi * cutoff * dt
    return r / (r + 1)


class PoseSmoother:
    """One-Euro filters for the keypoints of tracked people.

    Call once per frame with the frame's people, their track ids (from PoseTracker.update;
    people with id -1 pass through unfiltered) and optionally the frame's timestamp in seconds
    (increasing); without one the frame comes 1 / freq seconds after the previous.
    """

    def __init__(self, params: OneEuroParams | None = None, **overrides: Any) -> None:
        self.params = dataclasses.replace(params or OneEuroParams(), **overrides)
        self.reset()

    def reset(self) -> None:
        """Forget every filter (the next call starts afresh from its measurements)."""
        self._time: float | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._value = np.zeros((0, NUM_KEYPOINTS, 2))  # filtered positions
        self._speed = np.zeros((0, NUM_KEYPOINTS, 2))  # filtered speeds, pixels per second
        self._seen = np.zeros((0, NUM_KEYPOINTS), dtype=bool)

    def __len__(self) -> int:
        """How many tracks have filter state (those of the last frame)."""
        return len(self._ids)

    def __call__(self, poses: Any, track_ids: Any, timestamp: float | None = None) -> Any:
        """Filter one frame: Poses in, Poses out; (N, 18, 3) keypoints in, keypoints out."""
        keypoints = as_keypoints(poses)
        ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(keypoints):
            raise ValueError(f"{len(ids)} track ids for {len(keypoints)} people")
        tracked = ids >= 0
        if len(np.unique(ids[tracked])) != tracked.sum():
            raise ValueError(f"a track id appears twice in one frame: {ids.tolist()}")
        dt = self._interval(timestamp)

        present = (keypoints[..., 2] > 0) & tracked[:, None]  # (N, 18)
        measured = keypoints[..., :2]
        value = measured.copy()
        speed = np.zeros_like(measured)
        # Each person's filter state from the last frame, if it was there.
        rows = {int(track): row for row, track in enumerate(self._ids)}
        previous = np.array([rows.get(int(track), -1) if track >= 0 else -1 for track in ids], dtype=np.int64)
        has_previous = previous >= 0
        if dt is not None and has_previous.any():
            who = np.flatnonzero(has_previous)
            rows_of = previous[who]
            running = present[who] & self._seen[rows_of]  # (M, 18): filters that continue
            old_value, old_speed = self._value[rows_of], self._speed[rows_of]
            # The paper's speed estimate: the new measurement against the last filtered value
            # (upstream differences two raw measurements instead).
            raw_speed = (measured[who] - old_value) / dt
            new_speed = old_speed + smoothing_factor(self.params.d_cutoff, dt) * (raw_speed - old_speed)
            cutoff = self.params.min_cutoff + self.params.beta * np.abs(new_speed)
            new_value = old_value + smoothing_factor(cutoff, dt) * (measured[who] - old_value)
            value[who] = np.where(running[..., None], new_value, measured[who])
            speed[who] = np.where(running[..., None], new_speed, 0.0)

        out = keypoints.copy()
        out[..., :2] = np.where(present[..., None], value, keypoints[..., :2])
        self._ids, self._value, self._speed, self._seen = ids[tracked], value[tracked], speed[tracked], present[tracked]
        if isinstance(poses, Poses):
            return Poses.from_openpose(out, poses.scores)
        return out

    def _interval(self, timestamp: float | None) -> float | None:
        """Seconds since the previous frame (None for the first) and advance the clock."""
        if timestamp is None:
            now = 0.0 if self._time is None else self._time + 1 / self.params.freq
        else:
            now = float(timestamp)
            if not math.isfinite(now):
                raise ValueError(f"timestamp must be finite, got {timestamp!r}")
            if self._time is not None and now <= self._time:
                raise ValueError(f"timestamps must increase: {now} after {self._time}")
        dt = None if self._time is None else now - self._time
        self._time = now
        return dt

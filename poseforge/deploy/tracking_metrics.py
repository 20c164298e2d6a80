"""How well tracks hold, against people whose identity is known in every frame (deploy.clips).

    figures = track_figures(truth, shots, labelled, keypoints, ids)

A tracked person is an emitted pose with an id (>= 0); a pose with id -1 was found but not (yet)
tracked. A decoded person is a true person p when COCO's OKS against p (p's seen keypoints
counted, p's keypoint box as area) reaches TRUTH_OKS, COCO's AP50 criterion.

- people in view: in a frame, the annotated people with at least half of their labelled
  keypoints seen in it (inside the frame, not hidden): someone mostly outside the frame or
  behind someone else is not counted. The figure is the most in any one frame.
- distinct ids: ids given over the whole clip.
- long tracks: the share of tracked poses whose id was given in at least LONG_TRACK frames.
- id switches (CLEAR MOT, Bernardin and Stiefelhagen 2008): see `count_id_switches`.
- ids across cuts: ids given in more than one shot (a person of one shot is another person in
  the next: an id may not cross a cut).
- found, tracked: of the (frame, person in view) pairs, the share matched by any decoded person,
  and by a tracked one (what confirming tracks and dropping weak people cost).

Pure NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .tracking import OPENPOSE_SIGMAS, keypoint_box_area

TRUTH_OKS = 0.5  # a decoded person is a true person if COCO's OKS against them reaches this (AP50)
LONG_TRACK = 30  # frames: one second at 30 fps


def truth_oks(detections: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, 18, 3) detections vs (P, 18, 3) truth -> (N, P) COCO OKS: truth's keypoints counted,
    truth's keypoint box as area."""
    seen, found = truth[..., 2] > 0, detections[..., 2] > 0
    d2 = ((detections[:, None, :, :2] - truth[None, :, :, :2]) ** 2).sum(axis=-1)
    area = keypoint_box_area(truth)[None, :, None]
    similarity = np.exp(-d2 / (2 * (2 * OPENPOSE_SIGMAS) ** 2 * (area + np.spacing(1))))
    similarity *= found[:, None] & seen[None]
    return similarity.sum(axis=-1) / np.maximum(seen.sum(axis=-1), 1)[None]


@dataclass
class Switches:
    person: int  # a person's id changed
    track: int  # an id moved to another person
    frames: list[int]  # where

    @property
    def total(self) -> int:
        return self.person + self.track


def count_id_switches(
    truth: list[np.ndarray], keypoints: list[np.ndarray], ids: list[np.ndarray], max_age: int | None = None
) -> Switches:
    """ID switches of a tracked sequence, by CLEAR MOT's rules (Bernardin and Stiefelhagen 2008).

    Per frame: `truth` (P, 18, 3) true people (row p always person p), `keypoints` (N, 18, 3)
    decoded people and `ids` (N,) their track ids (-1: untracked, left out). In each frame,
    tracked people are matched one-to-one to true people whose COCO OKS (truth as reference)
    is at least TRUTH_OKS: a pair matched in an earlier frame (true person p, id t) is kept
    while the person with id t still reaches TRUTH_OKS against p, then the remaining pairs are
    taken most similar first. Unmatched tracked people (fragments, false people) and unmatched
    true people (missed, out of view) count nothing. Then
    - a person switch is a frame where a true person is matched to an id other than the one it
      was last matched to (in any earlier frame, not only the previous one): a swap of two
      people's ids counts 2, a person who loses their id and gets a new one 1; except that,
      when `max_age` is given, a never-seen id for a person unmatched for more than max_age
      frames is what the tracker promises, not a switch;
    - a track switch is a frame where an id is matched to a true person other than the one it
      was last matched to (an id taken over by someone else): a swap counts 2 more.
    """
    last_id: dict[int, int] = {}
    last_frame: dict[int, int] = {}
    last_person: dict[int, int] = {}
    seen_ids: set[int] = set()
    person = track = 0
    frames: list[int] = []
    for frame, (people, found, found_ids) in enumerate(zip(truth, keypoints, ids, strict=True)):
        tracked = np.asarray(found_ids) >= 0
        found, frame_ids = found[tracked], [int(i) for i in np.asarray(found_ids)[tracked]]
        similarity = truth_oks(found, people) if len(found) else np.zeros((0, len(people)))
        pairs: dict[int, int] = {}  # decoded index -> true person
        for true_person, track_id in last_id.items():
            if track_id in frame_ids:
                index = frame_ids.index(track_id)
                if similarity[index, true_person] >= TRUTH_OKS:
                    pairs[index] = true_person
        candidates = np.argwhere(similarity >= TRUTH_OKS)
        for index, true_person in sorted(candidates.tolist(), key=lambda ip: -similarity[ip[0], ip[1]]):
            if index not in pairs and true_person not in pairs.values():
                pairs[index] = true_person
        for index, true_person in pairs.items():
            track_id = frame_ids[index]
            if true_person in last_id and track_id != last_id[true_person]:
                gap = frame - last_frame[true_person] - 1
                if not (max_age is not None and gap > max_age and track_id not in seen_ids):
                    person += 1
                    frames.append(frame)
            if track_id in last_person and last_person[track_id] != true_person:
                track += 1
                frames.append(frame)
            last_id[true_person], last_frame[true_person], last_person[track_id] = track_id, frame, true_person
        seen_ids.update(frame_ids)
    return Switches(person, track, frames)


def in_view(truth: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """(P, 18, 3) people of a frame and (P,) their labelled keypoint counts -> (P,) whether each
    is in view: at least half of its labelled keypoints seen (and one)."""
    seen = (truth[..., 2] > 0).sum(axis=1)
    return (seen >= 1) & (2 * seen >= labelled)


def found_share(truth: list[np.ndarray], labelled: np.ndarray, keypoints: list[np.ndarray]) -> float:
    """Of the (frame, person in view) pairs, the share that one of the frame's `keypoints` is (one
    to one, most similar first, OKS >= TRUTH_OKS)."""
    pairs = found = 0
    for people, detections in zip(truth, keypoints, strict=True):
        view = np.flatnonzero(in_view(people, labelled))
        pairs += len(view)
        if not len(view) or not len(detections):
            continue
        similarity = truth_oks(detections, people[view])
        taken_rows, taken_cols = set(), set()
        for row, col in sorted(np.argwhere(similarity >= TRUTH_OKS).tolist(), key=lambda rc: -similarity[rc[0], rc[1]]):
            if row not in taken_rows and col not in taken_cols:
                taken_rows.add(row)
                taken_cols.add(col)
        found += len(taken_cols)
    return found / pairs if pairs else 0.0


def track_figures(
    truth: list[np.ndarray],
    shots: list[int],
    labelled: np.ndarray,
    keypoints: list[np.ndarray],
    ids: list[np.ndarray],
) -> dict[str, Any]:
    """The figures above for one clip: per frame its true people, shot, and the decoded people
    with their ids (-1: found but untracked)."""
    tracked_ids = [np.asarray(frame_ids)[np.asarray(frame_ids) >= 0] for frame_ids in ids]
    every = np.concatenate(tracked_ids) if tracked_ids else np.zeros(0, np.int64)
    distinct, frames_of = np.unique(every, return_counts=True)  # each id is given once per frame
    long_ids = distinct[frames_of >= LONG_TRACK]
    shots_of: dict[int, set[int]] = {}
    for shot, frame_ids in zip(shots, tracked_ids, strict=True):
        for track_id in frame_ids.tolist():
            shots_of.setdefault(track_id, set()).add(shot)
    switches = count_id_switches(truth, keypoints, ids)
    tracked = [k[np.asarray(i) >= 0] for k, i in zip(keypoints, ids, strict=True)]
    return {
        "frames": len(truth),
        "people_in_view": max((int(in_view(people, labelled).sum()) for people in truth), default=0),
        "people_annotated": len(labelled),
        "distinct_ids": len(distinct),
        "tracked_poses": len(every),
        "untracked_poses": int(sum((np.asarray(i) < 0).sum() for i in ids)),
        "long_track_share": float(np.isin(every, long_ids).mean()) if len(every) else 0.0,
        "track_frames_median": float(np.median(frames_of)) if len(frames_of) else 0.0,
        "id_switches": {"person": switches.person, "track": switches.track, "frames": switches.frames},
        "ids_across_cuts": sorted(i for i, s in shots_of.items() if len(s) > 1),
        "found": found_share(truth, labelled, keypoints),
        "tracked": found_share(truth, labelled, tracked),
    }

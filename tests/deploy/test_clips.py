"""The clips of deploy.clips: each annotated person's keypoints land where the photo put them,
frame after frame, and the figures of deploy.tracking_metrics say what they should of known tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from poseforge.deploy.clips import FRAME_SIZE, Clip, Photos, make_clips
from poseforge.deploy.tracking_metrics import LONG_TRACK, track_figures


@pytest.fixture(scope="module")
def clips(assets: Path) -> dict[str, Clip]:
    return {clip.name: clip for clip in make_clips(assets / "coco-val")}


def test_the_annotations_move_with_the_photo(clips: dict[str, Clip], assets: Path) -> None:
    """The pixels under each person's seen keypoints in a frame are the photo's pixels under the
    annotated keypoints (up to resampling): the truth moves with the picture."""
    photos = Photos(assets / "coco-val")
    for name, sources in (("pan", ["000000001000.jpg"]), ("zoom", ["000000001000.jpg"]),
                          ("crossing", ["000000109313.jpg"])):  # fmt: skip
        clip = clips[name]
        people = np.concatenate([photos.people(source)[0] for source in sources])
        image = photos.image(sources[0])
        errors = []
        for t in (0, len(clip.frames) // 2, len(clip.frames) - 1):
            for p in range(len(people)):
                seen = np.flatnonzero(clip.truth[t][p, :, 2] > 0)
                for k in seen:
                    x, y = np.rint(clip.truth[t][p, k, :2]).astype(int)
                    u, v = np.rint(people[p, k, :2]).astype(int)
                    errors.append(np.abs(clip.frames[t][y, x].astype(int) - image[v, u].astype(int)).mean())
        assert len(errors) > 30 and np.median(errors) < 12, (name, np.median(errors))


def test_clips_are_vga_at_known_lengths(clips: dict[str, Clip]) -> None:
    for clip in clips.values():
        assert len(clip.frames) == len(clip.truth) == len(clip.shots) == 90
        assert all(frame.shape == (*FRAME_SIZE, 3) and frame.dtype == np.uint8 for frame in clip.frames)
        assert all(truth.shape == (len(clip.people), 18, 3) for truth in clip.truth)
        height, width = FRAME_SIZE
        for truth in clip.truth:
            seen = truth[..., 2] > 0
            assert (truth[seen, 0] < width).all() and (truth[seen, 1] < height).all() and (truth[seen, :2] >= 0).all()
    assert clips["slideshow"].shots == [0] * 30 + [1] * 30 + [2] * 30
    # The one behind is hidden in the middle frames of the crossing, then seen again.
    behind = [int((t[1, :, 2] > 0).sum()) for t in clips["crossing"].truth]
    assert behind[0] > 10 and min(behind) == 0 and behind[-1] > 10


def test_the_truth_tracked_perfectly_scores_perfectly(clips: dict[str, Clip]) -> None:
    """The annotated people as detections with their row as id: as many ids as people seen, no
    switch, everyone found and tracked; swapping two people's ids midway is 2 + 2 switches; the
    slideshow's people are other people in each shot, so one id kept across shots crosses a cut."""
    clip = clips["pan"]
    keypoints = [truth[(truth[..., 2] > 0).any(axis=1)] for truth in clip.truth]
    ids = [np.flatnonzero((truth[..., 2] > 0).any(axis=1)) for truth in clip.truth]
    figures = track_figures(clip.truth, clip.shots, clip.labelled, keypoints, ids)
    assert figures["found"] == figures["tracked"] == 1.0
    assert figures["id_switches"] == {"person": 0, "track": 0, "frames": []}
    assert figures["distinct_ids"] == len(np.unique(np.concatenate(ids))) <= len(clip.people)
    assert figures["people_in_view"] <= figures["distinct_ids"] and figures["ids_across_cuts"] == []
    lengths = np.bincount(np.concatenate(ids))
    assert figures["long_track_share"] == pytest.approx(
        lengths[lengths >= LONG_TRACK].sum() / lengths.sum()
    )  # fmt: skip

    a, b = ids[0][:2]
    swapped = [np.where(i == a, b, np.where(i == b, a, i)) if t >= 45 else i for t, i in enumerate(ids)]
    assert track_figures(clip.truth, clip.shots, clip.labelled, keypoints, swapped)["id_switches"]["frames"] == [45] * 4

    slides = clips["slideshow"]
    one_id = [np.zeros(min(1, len(k)), np.int64) for k in (t[(t[..., 2] > 0).any(axis=1)] for t in slides.truth)]
    first = [t[(t[..., 2] > 0).any(axis=1)][:1] for t in slides.truth]
    assert track_figures(slides.truth, slides.shots, slides.labelled, first, one_id)["ids_across_cuts"] == [0]

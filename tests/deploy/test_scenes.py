"""Scene cuts on real photos: a camera moving over one scene is no cut, another photo is."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from poseforge.deploy.clips import FRAME_SIZE, Photos, pan, scaling, slideshow, warped, zoom
from poseforge.deploy.scenes import THUMBNAIL, SceneCuts, frame_change, thumbnail
from poseforge.deploy.tracking import TrackerParams
from poseforge.images import image_files, read_image

THRESHOLD = TrackerParams().cut_threshold


@pytest.fixture(scope="module")
def photos(assets: Path) -> Photos:
    return Photos(assets / "coco-val")


def changes(frames: list[np.ndarray]) -> list[float]:
    thumbs = [thumbnail(frame) for frame in frames]
    return [frame_change(a, b) for a, b in itertools.pairwise(thumbs)]


def test_a_moving_camera_is_no_cut(photos: Photos) -> None:
    """The clips' pan and zoom, and a pan four times as fast (about 16 pixels per frame across a
    640-pixel frame) over the crowded photo, change less than the threshold, by a margin."""
    image = photos.image("000000001000.jpg")
    fast = [warped(image, scaling(1.5, (16 * t, 120))) for t in range(21)]  # 320 pixels in 20 frames
    for frames in (pan(photos).frames, zoom(photos).frames, fast):
        assert max(changes(frames)) < 0.9 * THRESHOLD


def test_another_photo_is_a_cut(assets: Path, photos: Photos) -> None:
    """Every two consecutive photos of coco-val (in name order) differ by more than the threshold,
    whatever their sizes; the slideshow's cuts too, and nothing else in it."""
    thumbs = [thumbnail(read_image(path)) for path in image_files(assets / "coco-val" / "val2017")]
    assert len(thumbs) > 100
    assert min(frame_change(a, b) for a, b in itertools.pairwise(thumbs)) > THRESHOLD
    clip = slideshow(photos, shot_frames=5)
    cuts = SceneCuts(THRESHOLD)
    said = [cuts(thumbnail(frame)) for frame in clip.frames]
    assert said == [t > 0 and clip.shots[t] != clip.shots[t - 1] for t in range(len(clip.frames))]


def test_the_thumbnail_is_small_grey_and_the_same_at_any_size(photos: Photos) -> None:
    image = photos.image("000000001000.jpg")
    thumb = thumbnail(image)
    assert thumb.shape == (THUMBNAIL[1], THUMBNAIL[0]) and thumb.dtype == np.float32
    assert thumb.min() >= 0 and thumb.max() <= 255
    for size in ((320, 240), (1920, 1440), FRAME_SIZE[::-1]):
        assert frame_change(thumb, thumbnail(cv2.resize(image, size, interpolation=cv2.INTER_AREA))) < THRESHOLD / 10


def test_scene_cuts_start_with_no_cut_and_record_the_change() -> None:
    cuts = SceneCuts(0.1)
    dark, light = np.zeros((12, 16), np.float32), np.full((12, 16), 255, np.float32)
    assert cuts(dark) is False and cuts.change is None  # the first frame: nothing came before it
    assert cuts(dark + 20) is False and cuts.change == pytest.approx(20 / 255)
    assert cuts(light) is True and cuts.change == pytest.approx(235 / 255)
    assert cuts(light) is False and cuts.change == 0

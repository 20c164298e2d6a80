"""Short video clips made from real COCO photos, with every annotated person's identity in every frame.

    clips = make_clips("DATA/coco-val")        # pan, zoom, crossing, slideshow
    for clip in clips:
        clip.frames[t]                          # 640x480 BGR uint8
        clip.truth[t]                           # (P, 18, 3): row p is always person p; (0, 0, 0) where unseen

A camera moving over a still photo moves its annotated people with it: each frame is the photo
through an affine map (cv2.warpAffine), and the same map takes each person's COCO keypoints into
the frame, so who is who is known in every frame without labelling a video. A keypoint outside the
frame, or hidden behind another person's crop, is unseen. The neck (OpenPose's, not COCO's) is
never labelled.

- pan: a 640x480 window moving left to right (swaying up and down) across a crowded photo shown at
  1.5x, about 3.6 pixels per frame: people enter and leave at the sides.
- zoom: the same photo zoomed from 1x to 2x about its centre: people grow and leave at the borders.
- crossing: two people cut out of two photos (their annotation boxes) walking past each other
  over a person-free room, the one in front hiding the other in the middle frames.
- slideshow: three shots, 30 frames each, the crowded photo, another crowd, the crowded photo
  again (each slowly zoomed): a person of one shot is another person in the next (a new shot, a
  new track is what a tracker owes), so an id seen in two shots was carried across a cut.

Needs numpy and opencv; the annotations are read through documents.COCO_ANNOTATIONS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.documents import COCO_ANNOTATIONS, read_document
from poseforge.errors import PoseforgeError
from poseforge.images import read_image
from poseforge.keypoints import NUM_KEYPOINTS, OPENPOSE_TO_COCO

FRAME_SIZE = (480, 640)  # height, width: a VGA camera
FPS = 30.0
CLIP_FRAMES = 90  # three seconds at 30 fps, as in the pan
SHOT_FRAMES = 30  # each shot of the slideshow: max_age frames, the longest a lost track is kept
ANNOTATIONS = "annotations/person_keypoints_val2017.json"
IMAGES = "val2017"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels

# coco-val photos (all in the coco-val manifest). The crowd: twelve annotated children of a tennis
# team standing close together, several partly hidden behind others (a thirteenth, unlabelled,
# shows only a cap); every visible person but that one is annotated, so people in view can be
# counted from the annotations.
CROWD = "000000001000.jpg"
OTHER_CROWD = "000000439180.jpg"  # eight annotated riders among others: the slideshow's second shot
WALKERS = ("000000109313.jpg", "000000009483.jpg")  # each the one, standing, person of its photo
ROOM = "000000106235.jpg"  # a living room with no person in it: where the two walk past each other


@dataclass
class Clip:
    """Frames and the annotated people in each."""

    name: str
    description: str
    frames: list[np.ndarray] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)  # per frame (P, 18, 3), x, y, 1 where seen
    people: list[str] = field(default_factory=list)  # row p's identity: "<photo>#<annotation index>"
    labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (P,) keypoints labelled
    shots: list[int] = field(default_factory=list)  # per frame: its shot (a cut between two shots)

    def add(self, frame: np.ndarray, truth: np.ndarray, shot: int = 0) -> None:
        self.frames.append(frame)
        self.truth.append(truth)
        self.shots.append(shot)


class Photos:
    """The photos and person annotations of a COCO directory (annotations/, val2017/)."""

    def __init__(self, coco_dir: str | Path) -> None:
        self.root = Path(coco_dir)
        data = read_document(self.root / ANNOTATIONS, COCO_ANNOTATIONS)
        self._ids = {image["file_name"]: image["id"] for image in data["images"]}
        self._annotations: dict[int, list[dict[str, Any]]] = {}
        for annotation in data["annotations"]:
            self._annotations.setdefault(annotation["image_id"], []).append(annotation)

    def _id(self, name: str) -> int:
        if name not in self._ids:
            raise PoseforgeError(f"{self.root / ANNOTATIONS} does not list {name}: the tracking clips are made of "
                                 "coco-val photos (poseforge fetch coco-val)")  # fmt: skip
        return self._ids[name]

    def image(self, name: str) -> np.ndarray:
        self._id(name)
        return read_image(self.root / IMAGES / name)

    def people(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The annotated people of a photo (non-crowd, with keypoints): (P, 18, 3) keypoints in
        OpenPose order (x, y, 1 where labelled), (P,) labelled keypoint counts, (P, 4) boxes."""
        annotations = [
            a for a in self._annotations.get(self._id(name), []) if a["num_keypoints"] > 0 and not a["iscrowd"]
        ]
        keypoints = np.zeros((len(annotations), NUM_KEYPOINTS, 3))
        for row, annotation in enumerate(annotations):
            labelled = np.asarray(annotation["keypoints"], dtype=np.float64).reshape(-1, 3)
            for openpose_index, coco_index in enumerate(OPENPOSE_TO_COCO):
                if coco_index >= 0 and labelled[coco_index, 2] > 0:
                    keypoints[row, openpose_index] = (*labelled[coco_index, :2], 1)
        counts = (keypoints[..., 2] > 0).sum(axis=1)
        boxes = np.array([a["bbox"] for a in annotations], dtype=np.float64).reshape(-1, 4)
        return keypoints, counts, boxes


def moved(people: np.ndarray, transform: np.ndarray, hidden: Box | None = None) -> np.ndarray:
    """People through a 2x3 affine map into the frame; keypoints outside it (or inside the
    `hidden` box x0, y0, x1, y1) unseen."""
    out = people.copy()
    out[..., :2] = people[..., :2] @ transform[:, :2].T + transform[:, 2]
    height, width = FRAME_SIZE
    x, y = out[..., 0], out[..., 1]
    seen = (people[..., 2] > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    if hidden is not None:
        x0, y0, x1, y1 = hidden
        seen &= ~((x >= x0) & (x < x1) & (y >= y0) & (y < y1))
    out[~seen] = 0
    return out


def warped(image: np.ndarray, transform: np.ndarray) -> np.ndarray:
    height, width = FRAME_SIZE
    return cv2.warpAffine(image, transform, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def scaling(scale: float, offset: tuple[float, float]) -> np.ndarray:
    """The map photo -> frame that scales by `scale` and puts photo point `offset` (scaled) at the
    frame's top left corner."""
    return np.array([[scale, 0.0, -offset[0]], [0.0, scale, -offset[1]]])


def zooming(scale: float, centre: tuple[float, float]) -> np.ndarray:
    """The map that scales by `scale` about photo point `centre`, shown at the frame's centre."""
    height, width = FRAME_SIZE
    return np.array([[scale, 0.0, width / 2 - scale * centre[0]], [0.0, scale, height / 2 - scale * centre[1]]])


def _start(name: str, description: str, photos: Photos, sources: list[str]) -> tuple[Clip, list[np.ndarray]]:
    clip = Clip(name, description)
    people = []
    for source in sources:
        keypoints, counts, _ = photos.people(source)
        clip.people += [f"{source}#{row}" for row in range(len(keypoints))]
        clip.labelled = np.concatenate([clip.labelled, counts])
        people.append(keypoints)
    return clip, people


def pan(photos: Photos, frames: int = CLIP_FRAMES) -> Clip:
    clip, (people,) = _start("pan", f"a 640x480 window panning across {CROWD} at 1.5x", photos, [CROWD])
    image = photos.image(CROWD)
    scale = 1.5
    height, width = FRAME_SIZE
    span_x, span_y = image.shape[1] * scale - width, image.shape[0] * scale - height
    for t in range(frames):
        u = t / max(frames - 1, 1)
        transform = scaling(scale, (span_x * u, span_y * (0.5 + 0.4 * np.sin(2 * np.pi * u))))
        clip.add(warped(image, transform), moved(people, transform))
    return clip


def zoom(photos: Photos, frames: int = CLIP_FRAMES) -> Clip:
    clip, (people,) = _start("zoom", f"{CROWD} zoomed from 1x to 2x about its centre", photos, [CROWD])
    image = photos.image(CROWD)
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    base = min(FRAME_SIZE[0] / image.shape[0], FRAME_SIZE[1] / image.shape[1])
    for t in range(frames):
        transform = zooming(base * (1 + t / max(frames - 1, 1)), centre)
        clip.add(warped(image, transform), moved(people, transform))
    return clip


def crossing(photos: Photos, frames: int = CLIP_FRAMES) -> Clip:
    front, back = WALKERS
    clip, (front_people, back_people) = _start(
        "crossing", f"the people of {front} and {back} walking past each other in {ROOM}", photos, [front, back]
    )
    height, width = FRAME_SIZE
    room = cv2.resize(photos.image(ROOM), (width, height), interpolation=cv2.INTER_AREA)
    front_crop, back_crop = _cut_out(photos, front, tall=360, top=100), _cut_out(photos, back, tall=330, top=70)
    for t in range(frames):
        u = t / max(frames - 1, 1)
        frame = room.copy()
        # The one behind walks left and is drawn first; the one in front walks right, over them.
        back_map, _ = back_crop.paste(frame, 560 - 480 * u)
        front_map, front_box = front_crop.paste(frame, 80 + 480 * u)
        clip.add(frame, np.concatenate([moved(front_people, front_map), moved(back_people, back_map, front_box)]))
    return clip


@dataclass(frozen=True)
class Crop:
    """A person cut out of a photo (their box and a margin), scaled, to be pasted at a height."""

    pixels: np.ndarray
    scale: float
    origin: tuple[int, int]  # the photo point at the crop's top left corner
    top: int  # where its top goes in the frame

    def paste(self, frame: np.ndarray, centre: float) -> tuple[np.ndarray, Box]:
        """Paste it centred at x = `centre`: the map from its photo into the frame, and the box it covers."""
        left = round(centre - self.pixels.shape[1] / 2)
        box = _paste(frame, self.pixels, left, self.top)
        origin_x, origin_y = self.origin
        return np.array(
            [[self.scale, 0.0, left - self.scale * origin_x], [0.0, self.scale, self.top - self.scale * origin_y]]
        ), box


def _cut_out(photos: Photos, source: str, tall: int, top: int) -> Crop:
    """The one annotated person of `source`, cut out by their box with a margin, `tall` pixels high."""
    image = photos.image(source)
    boxes = photos.people(source)[2]
    x, y, w, h = boxes[0] if len(boxes) == 1 else (0.0, 0.0, 0.0, 0.0)
    margin = 0.1 * h
    x0, y0 = int(max(0.0, x - margin)), int(max(0.0, y - margin))
    x1, y1 = int(min(image.shape[1], x + w + margin)), int(min(image.shape[0], y + h + margin))
    if len(boxes) != 1 or min(x1 - x0, y1 - y0) < 8:
        raise PoseforgeError(f"{photos.root / ANNOTATIONS}: {source} should hold one annotated person with a box "
                             f"inside it: it holds {len(boxes)} annotated people")  # fmt: skip
    scale = tall / (y1 - y0)
    pixels = cv2.resize(image[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return Crop(pixels, scale, (x0, y0), top)


def _paste(frame: np.ndarray, crop: np.ndarray, left: int, top: int) -> Box:
    """Put `crop` on `frame` with its top left corner at (left, top), cut at the frame's borders;
    returns the box it covers."""
    height, width = frame.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + crop.shape[1], width), min(top + crop.shape[0], height)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = crop[y0 - top : y1 - top, x0 - left : x1 - left]
    return float(x0), float(y0), float(x1), float(y1)


def slideshow(photos: Photos, shot_frames: int = SHOT_FRAMES) -> Clip:
    shots = [CROWD, OTHER_CROWD, CROWD]
    clip, people = _start("slideshow", f"{' | '.join(shots)}, {shot_frames} frames each, cut without a "
                          "transition", photos, shots)  # fmt: skip
    offsets = np.cumsum([0] + [len(p) for p in people])
    for shot, source in enumerate(shots):
        image = photos.image(source)
        centre = (image.shape[1] / 2, image.shape[0] / 2)
        cover = max(FRAME_SIZE[0] / image.shape[0], FRAME_SIZE[1] / image.shape[1])
        for t in range(shot_frames):
            transform = zooming(cover * (1 + 0.1 * shot + 0.1 * t / max(shot_frames - 1, 1)), centre)
            truth = np.zeros((offsets[-1], NUM_KEYPOINTS, 3))
            truth[offsets[shot] : offsets[shot + 1]] = moved(people[shot], transform)
            clip.add(warped(image, transform), truth, shot)
    return clip


CLIPS = {"pan": pan, "zoom": zoom, "crossing": crossing, "slideshow": slideshow}


def make_clips(coco_dir: str | Path, names: tuple[str, ...] = tuple(CLIPS)) -> list[Clip]:
    """The clips, made from the photos of a COCO directory holding coco-val's images."""
    photos = Photos(coco_dir)
    return [CLIPS[name](photos) for name in names]

"""A synthetic encoder for decoder round trips: people -> stride-8 heatmaps and PAFs.

The maps are rendered the way upstream training renders its targets (on the network-input
grid, stride 8): a Gaussian of sigma 7 network-input pixels per keypoint evaluated at the
cell centres (continuous coordinate 8g + 4), max over people, background = 1 - max; and for
each limb the unit limb vector on every cell whose centre lies within 1 cell of the
segment, averaged over the people that cover the cell.

Scenes are random but seeded: people of different sizes and poses, overlapping, cut by the
image border and partly annotated, seen through a random resize + pad Geometry. They avoid
only what no decoder can resolve: two keypoints of one type closer than MIN_KEYPOINT_GAP
cells, or two limbs of one type that run within MIN_LIMB_GAP cells of each other.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass

import numpy as np

from poseforge.decode import Geometry, Poses, to_coco_results
from poseforge.keypoints import (
    LIMB_PAF_CHANNELS,
    LIMBS,
    NUM_HEATMAPS,
    NUM_KEYPOINTS,
    NUM_PAFS,
    OPENPOSE_TO_COCO,
    SKELETON,
    STRIDE,
)

SIGMA = 7.0  # heatmap Gaussian, network-input pixels (upstream training)
PAF_HALF_WIDTH = 1.0  # grid cells (upstream training)
MIN_KEYPOINT_GAP = 3.0  # grid cells between same-type keypoints of two people
MIN_LIMB_GAP = 1.0  # grid cells between same-type limbs of two people (their PAF bands may overlap)
NECK = 1

# Each keypoint's parent in the tree the grouping grows (the neck is the root).
PARENT = {b: a for a, b in SKELETON}

# A standing person facing the camera, as offsets from the parent in body heights (y down).
_TEMPLATE = {
    0: (0.0, -0.13),
    2: (-0.12, 0.01), 3: (-0.03, 0.17), 4: (-0.01, 0.16),
    5: (0.12, 0.01), 6: (0.03, 0.17), 7: (0.01, 0.16),
    8: (-0.07, 0.30), 9: (-0.01, 0.22), 10: (0.0, 0.22),
    11: (0.07, 0.30), 12: (0.01, 0.22), 13: (0.0, 0.22),
    14: (-0.03, -0.03), 15: (0.03, -0.03), 16: (-0.035, 0.01), 17: (0.035, 0.01),
}  # fmt: skip


def _descendants(root: int) -> set[int]:
    out = {root}
    grew = True
    while grew:
        grew = False
        for child, parent in PARENT.items():
            if parent in out and child not in out:
                out.add(child)
                grew = True
    return out


# ---------------------------------------------------------------------------------------
# Rendering


def render_maps(people: np.ndarray, grid_h: int, grid_w: int) -> tuple[np.ndarray, np.ndarray]:
    """Render (P, 18, 2) network-input coordinates (NaN = absent) into (19|38, h, w) maps."""
    heatmaps = np.zeros((NUM_HEATMAPS, grid_h, grid_w), dtype=np.float64)
    centres_x = STRIDE * np.arange(grid_w) + STRIDE / 2
    centres_y = STRIDE * np.arange(grid_h) + STRIDE / 2
    reach = 5 * SIGMA  # beyond it the Gaussian is below 4e-6: leave those cells at zero
    for person in people:
        for kind in range(NUM_KEYPOINTS):
            x, y = person[kind]
            if not np.isfinite(x):
                continue
            x0, x1 = np.searchsorted(centres_x, [x - reach, x + reach])
            y0, y1 = np.searchsorted(centres_y, [y - reach, y + reach])
            if x0 >= x1 or y0 >= y1:
                continue
            d2 = (centres_x[None, x0:x1] - x) ** 2 + (centres_y[y0:y1, None] - y) ** 2
            window = heatmaps[kind, y0:y1, x0:x1]
            np.maximum(window, np.exp(-d2 / (2 * SIGMA**2)), out=window)
    heatmaps[-1] = np.clip(1 - heatmaps[:-1].max(axis=0), 0, 1)

    pafs = np.zeros((NUM_PAFS, grid_h, grid_w), dtype=np.float64)
    cover = np.zeros((len(LIMBS), grid_h, grid_w), dtype=np.float64)
    gx = np.arange(grid_w) + 0.5  # cell centres in grid coordinates
    gy = np.arange(grid_h) + 0.5
    for person in people:
        for limb, ((a, b), (cx, cy)) in enumerate(zip(LIMBS, LIMB_PAF_CHANNELS, strict=True)):
            pa, pb = person[a] / STRIDE, person[b] / STRIDE
            if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
                continue
            vec = pb - pa
            length = float(np.hypot(*vec))
            if length < 1e-9:
                continue
            unit = vec / length
            lo = np.minimum(pa, pb) - PAF_HALF_WIDTH
            hi = np.maximum(pa, pb) + PAF_HALF_WIDTH
            x0, x1 = np.searchsorted(gx, lo[0]), np.searchsorted(gx, hi[0], side="right")
            y0, y1 = np.searchsorted(gy, lo[1]), np.searchsorted(gy, hi[1], side="right")
            if x0 >= x1 or y0 >= y1:
                continue
            px = gx[None, x0:x1] - pa[0]
            py = gy[y0:y1, None] - pa[1]
            along = np.clip(px * unit[0] + py * unit[1], 0, length)
            dist = np.hypot(px - along * unit[0], py - along * unit[1])
            near = dist <= PAF_HALF_WIDTH
            pafs[cx, y0:y1, x0:x1] += near * unit[0]
            pafs[cy, y0:y1, x0:x1] += near * unit[1]
            cover[limb, y0:y1, x0:x1] += near
    for limb, (cx, cy) in enumerate(LIMB_PAF_CHANNELS):
        pafs[[cx, cy]] /= np.maximum(cover[limb], 1)
    return heatmaps.astype(np.float32), pafs.astype(np.float32)


# ---------------------------------------------------------------------------------------
# Scenes


@dataclass
class Scene:
    geometry: Geometry
    keypoints: np.ndarray  # (P, 18, 3) original-image x, y, 1 if present (rendered + labelled)
    heatmaps: np.ndarray
    pafs: np.ndarray


def _random_person(rng: np.random.Generator, neck: np.ndarray, height: float) -> np.ndarray:
    """(18, 2) keypoints of a person with jittered limbs, in original-image pixels."""
    tilt = rng.uniform(-0.35, 0.35)
    out = np.zeros((NUM_KEYPOINTS, 2))
    out[NECK] = neck
    for child in (b for _, b in SKELETON):  # parents come first in SKELETON order
        dx, dy = _TEMPLATE[child]
        angle = tilt + rng.uniform(-0.45, 0.45)
        stretch = height * rng.uniform(0.85, 1.15)
        c, s = math.cos(angle), math.sin(angle)
        out[child] = out[PARENT[child]] + stretch * np.array([c * dx - s * dy, s * dx + c * dy])
    return out


def _segment_distance(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> float:
    """Distance between 2-D segments p1p2 and q1q2 (0 if they cross)."""

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    if cross(p1, p2, q1) * cross(p1, p2, q2) < 0 and cross(q1, q2, p1) * cross(q1, q2, p2) < 0:
        return 0.0

    def point_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        ab = b - a
        t = np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0, 1)
        return float(np.hypot(*(a + t * ab - p)))

    return min(
        point_segment(p1, q1, q2),
        point_segment(p2, q1, q2),
        point_segment(q1, p1, p2),
        point_segment(q2, p1, p2),
    )


def _compatible(grid_a: np.ndarray, grid_b: np.ndarray) -> bool:
    """Whether two people (18, 2 grid coordinates, NaN absent) are resolvable side by side."""
    margin = max(MIN_KEYPOINT_GAP, MIN_LIMB_GAP)
    lo_a, hi_a = np.nanmin(grid_a, 0), np.nanmax(grid_a, 0)
    lo_b, hi_b = np.nanmin(grid_b, 0), np.nanmax(grid_b, 0)
    if np.any(lo_a > hi_b + margin) or np.any(lo_b > hi_a + margin):
        return True  # far apart: nothing of one comes near the other
    gaps = np.hypot(*(grid_a - grid_b).T)
    if np.any(gaps[np.isfinite(gaps)] < MIN_KEYPOINT_GAP):
        return False
    for a, b in LIMBS:
        ends = (grid_a[a], grid_a[b], grid_b[a], grid_b[b])
        if all(np.isfinite(e).all() for e in ends) and _segment_distance(*ends) < MIN_LIMB_GAP:
            return False
    return True


def random_geometry(rng: np.random.Generator, width: int, height: int) -> tuple[Geometry, int, int]:
    """A resize (slightly anisotropic) + pad, and the (grid_h, grid_w) it leads to."""
    scale_x = rng.uniform(0.6, 1.3)
    scale_y = scale_x * rng.uniform(0.92, 1.08)
    geometry = Geometry(
        scale_x=scale_x,
        scale_y=scale_y,
        pad_left=float(rng.integers(0, 33)),
        pad_top=float(rng.integers(0, 33)),
        image_width=width,
        image_height=height,
    )
    grid_w = math.ceil((width * scale_x + geometry.pad_left + rng.integers(0, 33)) / STRIDE)
    grid_h = math.ceil((height * scale_y + geometry.pad_top + rng.integers(0, 33)) / STRIDE)
    return geometry, grid_h, grid_w


def make_scene(
    rng: np.random.Generator,
    num_people: int,
    missing_rate: float = 0.3,
    min_keypoints: int = 5,
) -> Scene:
    """A random scene with exactly num_people people (raises if it cannot place them)."""
    side = int(260 * math.sqrt(num_people)) + 200
    width = int(side * rng.uniform(0.9, 1.3))
    height = int(side * rng.uniform(0.7, 1.0))
    geometry, grid_h, grid_w = random_geometry(rng, width, height)

    people: list[np.ndarray] = []  # (18, 2) original-image coordinates, NaN absent
    grids: list[np.ndarray] = []
    for _ in range(200 * num_people):
        if len(people) == num_people:
            break
        # Necks anywhere in the image: people near its border are cut by it.
        neck = rng.uniform([0.0, 0.0], [width, height])
        person = _random_person(rng, neck, height=rng.uniform(130, 300))
        present = np.ones(NUM_KEYPOINTS, dtype=bool)
        # Outside the image a keypoint is neither seen nor labelled, nor is the rest of its chain.
        inside = (person >= 0).all(1) & (person[:, 0] <= width) & (person[:, 1] <= height)
        for kind in np.flatnonzero(~inside):
            present[list(_descendants(int(kind)))] = False
        if rng.random() < missing_rate:  # occluded: a random limb chain is missing
            root = int(rng.choice([k for k in range(NUM_KEYPOINTS) if k != NECK]))
            present[list(_descendants(root))] = False
        if not present[NECK] or present.sum() < min_keypoints:
            continue
        person[~present] = np.nan
        grid = geometry.image_to_grid(person)
        if all(_compatible(grid, other) for other in grids):
            people.append(person)
            grids.append(grid)
    if len(people) != num_people:
        raise RuntimeError(f"could only place {len(people)} of {num_people} people")

    net = np.stack([g * STRIDE for g in grids]) if grids else np.zeros((0, NUM_KEYPOINTS, 2))
    heatmaps, pafs = render_maps(net, grid_h, grid_w)
    keypoints = np.zeros((len(people), NUM_KEYPOINTS, 3))
    for p, person in enumerate(people):
        present = np.isfinite(person[:, 0])
        keypoints[p, present, :2] = person[present]
        keypoints[p, present, 2] = 1
    return Scene(geometry=geometry, keypoints=keypoints, heatmaps=heatmaps, pafs=pafs)


# ---------------------------------------------------------------------------------------
# COCO evaluation


def coco_ground_truth(scenes: list[Scene]) -> dict:
    """A COCO keypoints ground-truth dataset for the scenes (image ids 1..len(scenes))."""
    images, annotations = [], []
    for image_id, scene in enumerate(scenes, start=1):
        g = scene.geometry
        images.append({"id": image_id, "width": g.image_width, "height": g.image_height})
        for person in scene.keypoints:
            coco = np.zeros((17, 3))
            for openpose_index, coco_index in enumerate(OPENPOSE_TO_COCO):
                if coco_index >= 0 and person[openpose_index, 2] > 0:
                    coco[coco_index] = (*person[openpose_index, :2], 2)
            present = person[person[:, 2] > 0, :2]
            margin = 0.1 * np.ptp(present[:, 1])
            x0, y0 = np.maximum(present.min(0) - margin, 0)
            x1 = min(present[:, 0].max() + margin, g.image_width)
            y1 = min(present[:, 1].max() + margin, g.image_height)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "keypoints": coco.reshape(-1).tolist(),
                    "num_keypoints": int((coco[:, 2] > 0).sum()),
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    # COCO areas are segmentation areas, about half the box.
                    "area": float(0.5 * (x1 - x0) * (y1 - y0)),
                }
            )
    categories = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": [], "skeleton": []}]
    return {"images": images, "annotations": annotations, "categories": categories}


def keypoint_ap(scenes: list[Scene], poses: list[Poses]) -> float:
    """COCO keypoint AP (OKS 0.50:0.95, all areas) of the decoded poses, up to 100 per image."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = [r for image_id, p in enumerate(poses, start=1) for r in to_coco_results(p, image_id)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_ground_truth(scenes)
        gt.createIndex()
        if not results:
            return 0.0
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.params.maxDets = [100]  # COCO's default of 20 would cut the crowded scenes
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][:, :, 0, 0, -1]  # (OKS thresholds, recall), area "all"
    valid = precision > -1
    return float(precision[valid].mean()) if valid.any() else 0.0

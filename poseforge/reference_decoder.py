"""The upstream Lightweight OpenPose decoding, re-implemented plainly as a baseline.

This follows upstream's val.py and modules/keypoints.py step by step: both maps are
upsampled with cv2 bicubic resizes to the original image size, keypoints are extracted at
integer pixels and grouped with the PAFs sampled at rounded pixel positions. It is slow
on purpose (about 130 ms per image at the val protocol) and serves as the benchmark
baseline and as a correctness cross-check for poseforge.decode, which it shares only the
data types with.
"""

from __future__ import annotations

import cv2
import numpy as np

from poseforge.decode import Geometry, Poses
from poseforge.keypoints import LIMB_PAF_CHANNELS, LIMBS, NUM_KEYPOINTS, STRIDE

HEATMAP_THRESHOLD = 0.1
SUPPRESSION_RADIUS = 6  # pixels of the original image
PAF_SAMPLES = 10
MIN_PAF_SCORE = 0.05
MIN_SUCCESS_RATIO = 0.8
MIN_KEYPOINTS = 3
MIN_MEAN_SCORE = 0.2
LOOP_CLOSING_LIMBS = (17, 18)  # shoulder -> ear: only fill in a missing end


def to_image_size(maps: np.ndarray, geometry: Geometry) -> np.ndarray:
    """(c, h, w) network maps -> (H, W, c) maps at the original image size, as upstream.

    Upsample x8 to the padded network input, cut the padding away, resize to the image.
    """
    hwc = np.ascontiguousarray(maps.transpose(1, 2, 0), dtype=np.float32)
    full = cv2.resize(hwc, (0, 0), fx=STRIDE, fy=STRIDE, interpolation=cv2.INTER_CUBIC)
    if full.ndim == 2:  # cv2 drops a single channel axis
        full = full[:, :, None]
    top, left = round(geometry.pad_top), round(geometry.pad_left)
    height = min(round(geometry.image_height * geometry.scale_y), full.shape[0] - top)
    width = min(round(geometry.image_width * geometry.scale_x), full.shape[1] - left)
    crop = np.ascontiguousarray(full[top : top + height, left : left + width])
    out = cv2.resize(crop, (geometry.image_width, geometry.image_height), interpolation=cv2.INTER_CUBIC)
    return out.reshape(geometry.image_height, geometry.image_width, -1)


def extract_keypoints(heatmap: np.ndarray, first_id: int) -> list[tuple[int, int, float, int]]:
    """Peaks of one heatmap as (x, y, score, global id), upstream's extract_keypoints."""
    heatmap = np.where(heatmap < HEATMAP_THRESHOLD, 0, heatmap)
    padded = np.pad(heatmap, 1)
    centre = padded[1:-1, 1:-1]
    is_peak = (
        (centre > padded[1:-1, :-2])
        & (centre > padded[1:-1, 2:])
        & (centre > padded[:-2, 1:-1])
        & (centre > padded[2:, 1:-1])
    )
    ys, xs = np.nonzero(is_peak)
    # Sorted by x; Python's sort is stable, so equal x keep row order.
    peaks = sorted(zip(xs.tolist(), ys.tolist(), strict=True), key=lambda p: p[0])
    suppressed = [False] * len(peaks)
    kept = []
    for i, (x, y) in enumerate(peaks):
        if suppressed[i]:
            continue
        for j in range(i + 1, len(peaks)):
            if ((x - peaks[j][0]) ** 2 + (y - peaks[j][1]) ** 2) ** 0.5 < SUPPRESSION_RADIUS:
                suppressed[j] = True
        kept.append((x, y, float(heatmap[y, x]), first_id + len(kept)))
    return kept


def _limb_connections(kpts_a: np.ndarray, kpts_b: np.ndarray, paf: np.ndarray) -> list[tuple[int, int, float]]:
    """Scored, greedily matched (id a, id b, affinity) connections for one limb."""
    n, m = len(kpts_a), len(kpts_b)
    a = kpts_a[:, :2]
    b = kpts_b[:, :2]
    # Pairs are enumerated b-major: pair p = b index * n + a index.
    vec = (b[:, None, :] - a[None, :, :]).reshape(-1, 1, 2)
    start = np.broadcast_to(a[None], (m, n, 2)).reshape(-1, 1, 2)
    grid = np.arange(PAF_SAMPLES, dtype=np.float32).reshape(1, -1, 1)
    points = np.round(vec * (1 / (PAF_SAMPLES - 1)) * grid + start).astype(np.int32)
    field = paf[points[..., 1].ravel(), points[..., 0].ravel()].reshape(-1, PAF_SAMPLES, 2)
    unit = vec / (np.linalg.norm(vec, axis=-1, keepdims=True) + 1e-6)
    dots = (field * unit).sum(-1)
    passed = dots > MIN_PAF_SCORE
    count = passed.sum(1)
    affinity = (dots * passed).sum(1) / (count + 1e-6)
    good = np.nonzero((affinity > 0) & (count / PAF_SAMPLES > MIN_SUCCESS_RATIO))[0]
    b_idx, a_idx = np.divmod(good, n)
    affinity = affinity[good]

    order = affinity.argsort()[::-1]
    used_a, used_b, out = set(), set(), []
    for k in order:
        if a_idx[k] not in used_a and b_idx[k] not in used_b:
            used_a.add(a_idx[k])
            used_b.add(b_idx[k])
            out.append((int(kpts_a[a_idx[k], 3]), int(kpts_b[b_idx[k], 3]), float(affinity[k])))
    return out


def group_keypoints(keypoints_by_type: list[list[tuple]], pafs: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Upstream's group_keypoints: entries of 18 keypoint ids + score + count."""
    all_keypoints = np.array([k for kind in keypoints_by_type for k in kind], dtype=np.float64)
    all_keypoints = all_keypoints.reshape(-1, 4)
    by_type = [np.array(kind, dtype=np.float32).reshape(-1, 4) for kind in keypoints_by_type]
    entries: list[np.ndarray] = []
    for limb, ((ka, kb), paf_channels) in enumerate(zip(LIMBS, LIMB_PAF_CHANNELS, strict=True)):
        if len(by_type[ka]) == 0 or len(by_type[kb]) == 0:
            continue
        connections = _limb_connections(by_type[ka], by_type[kb], pafs[:, :, list(paf_channels)])
        for id_a, id_b, affinity in connections:
            if limb in LOOP_CLOSING_LIMBS:
                for entry in entries:
                    if entry[ka] == id_a and entry[kb] == -1:
                        entry[kb] = id_b
                    elif entry[kb] == id_b and entry[ka] == -1:
                        entry[ka] = id_a
                continue
            matched = 0
            for entry in entries:
                if entry[ka] == id_a:
                    entry[kb] = id_b
                    entry[-1] += 1
                    entry[-2] += all_keypoints[id_b, 2] + affinity
                    matched += 1
            if not matched:
                entry = np.full(NUM_KEYPOINTS + 2, -1.0)
                entry[ka], entry[kb] = id_a, id_b
                entry[-1] = 2
                entry[-2] = all_keypoints[id_a, 2] + all_keypoints[id_b, 2] + affinity
                entries.append(entry)
    kept = [e for e in entries if e[-1] >= MIN_KEYPOINTS and e[-2] / e[-1] >= MIN_MEAN_SCORE]
    return kept, all_keypoints


def reference_decode(heatmaps: np.ndarray, pafs: np.ndarray, geometry: Geometry) -> Poses:
    """Upstream's val.py decoding of one image's (19, h, w) heatmaps and (38, h, w) PAFs."""
    full_heatmaps = to_image_size(heatmaps, geometry)
    full_pafs = to_image_size(pafs, geometry)
    keypoints_by_type, total = [], 0
    for kind in range(NUM_KEYPOINTS):
        found = extract_keypoints(full_heatmaps[:, :, kind], total)
        keypoints_by_type.append(found)
        total += len(found)
    entries, all_keypoints = group_keypoints(keypoints_by_type, full_pafs)

    keypoints = np.zeros((len(entries), NUM_KEYPOINTS, 3))
    scores = np.zeros(len(entries))
    for n, entry in enumerate(entries):
        for kind in range(NUM_KEYPOINTS):
            if entry[kind] >= 0:
                x, y, score = all_keypoints[int(entry[kind]), :3]
                keypoints[n, kind] = (x + 0.5, y + 0.5, score)  # pixel index -> continuous
        scores[n] = entry[-2] * max(0, entry[-1] - 1)
    return Poses.from_openpose(keypoints, scores)

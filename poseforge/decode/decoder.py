"""decode(): network heatmaps and PAFs -> people in original-image coordinates."""

from __future__ import annotations

import numpy as np

from poseforge.keypoints import LIMB_PAF_CHANNELS, LIMBS, NUM_HEATMAPS, NUM_KEYPOINTS, NUM_PAFS

from .geometry import Geometry
from .grouping import assemble, match_limbs, score_limbs
from .params import DecoderParams
from .peaks import fit_gaussian_peaks, local_maxima, rank_within, suppress_close
from .poses import Poses
from .resample import upsample_cubic

# The strongest peaks of one keypoint type that are grouped: far more people than any image
# holds, and a bound on the limb scoring's memory (candidates of a pair x PAF samples).
MAX_PEAKS_PER_TYPE = 128


def _checked(name: str, maps: np.ndarray, channels: int) -> np.ndarray:
    maps = np.asarray(maps)
    if maps.ndim != 3 or maps.shape[0] != channels:
        raise ValueError(f"{name} must have shape ({channels}, h, w), got {maps.shape}")
    if maps.shape[1] < 1 or maps.shape[2] < 1:
        raise ValueError(f"{name} is empty: shape {maps.shape}")
    if not (np.issubdtype(maps.dtype, np.floating) or np.issubdtype(maps.dtype, np.integer)):
        raise ValueError(f"{name} must be a real-valued array, got dtype {maps.dtype}")
    maps = maps.astype(np.float32, copy=False)
    finite = np.isfinite(maps)
    if not finite.all():
        bad = maps[~finite]
        raise ValueError(
            f"{name} contains {int(np.isnan(bad).sum())} NaN and {int(np.isinf(bad).sum())} infinite "
            "values; the network output is corrupt"
        )
    return maps


class _Candidates:
    """All keypoint candidates, grouped by keypoint type (ids are contiguous per type)."""

    def __init__(self, grid_xy: np.ndarray, image_xy: np.ndarray, score: np.ndarray, kind: np.ndarray):
        self.grid_xy = grid_xy  # (K, 2) grid coordinates, for PAF sampling
        self.image_xy = image_xy  # (K, 2) original-image coordinates, for the output
        self.score = score  # (K,) heatmap value at the peak
        # Type k's candidates are ids first[k] to first[k + 1] - 1: slices, not index arrays, are
        # what the grouping takes (views, where fancy indexing would copy).
        self.first = np.searchsorted(kind, np.arange(NUM_KEYPOINTS + 1)).tolist()

    def of_type(self, k: int) -> slice:
        return slice(self.first[k], self.first[k + 1])


def _find_candidates(heatmaps: np.ndarray, geometry: Geometry, params: DecoderParams) -> _Candidates:
    factor = params.upsample_factor
    maps = upsample_cubic(heatmaps[:NUM_KEYPOINTS], factor)
    kind, row, col = local_maxima(maps, params.heatmap_threshold)
    score = maps[kind, row, col].astype(np.float64)
    # Upsampled sample i's centre is at grid coordinate (i + 0.5) / factor, which is grid
    # index coordinate (i + 0.5) / factor - 0.5 (network sample j's centre is at j + 0.5).
    x = (col + 0.5) / factor - 0.5
    y = (row + 0.5) / factor - 0.5
    if params.refine_peaks and len(kind):
        x, y = fit_gaussian_peaks(heatmaps, kind, x, y, max_shift=1 / factor)
    grid_xy = np.stack([x + 0.5, y + 0.5], axis=-1)
    # Like upstream, which crops the padding away, report keypoints inside the image.
    image_xy = geometry.grid_to_image(grid_xy)
    np.clip(image_xy[:, 0], 0, geometry.image_width, out=image_xy[:, 0])
    np.clip(image_xy[:, 1], 0, geometry.image_height, out=image_xy[:, 1])

    keep = _strongest(image_xy, score, kind, params.peak_suppression_radius)
    return _Candidates(grid_xy[keep], image_xy[keep], score[keep], kind[keep])


def _strongest(image_xy: np.ndarray, score: np.ndarray, kind: np.ndarray, radius: float) -> np.ndarray:
    """The peaks kept by suppression, by type and strongest first, at most MAX_PEAKS_PER_TYPE
    of a type. Suppression is by stronger peaks only, so cutting the weakest first (which also
    bounds its pairwise distances) changes nothing among those kept."""
    top = np.lexsort((-score, kind))
    top = top[rank_within(kind[top]) < 8 * MAX_PEAKS_PER_TYPE]
    kept = top[suppress_close(image_xy[top], score[top], radius, kind[top])]
    return kept[rank_within(kind[kept]) < MAX_PEAKS_PER_TYPE]


def _ranking_score(score: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean keypoint-plus-limb score times sqrt(count): confidence, with some credit for size.

    Upstream ranks by score * (count - 1), which favours big people so strongly that
    confident partial people rank below weak complete ones; this ranking scored higher AP at
    every input height and peak-search setting tried (the figures are in the issue notes).
    """
    return score / np.sqrt(np.maximum(count, 1))


def decode(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    geometry: Geometry,
    params: DecoderParams | None = None,
) -> Poses:
    """Decode one image's network outputs into people.

    heatmaps: (19, h, w) keypoint heatmaps + background; pafs: (38, h, w); both at stride 8
    on the network input that `geometry` describes. Returns Poses in original-image
    coordinates, best person first.
    """
    params = params or DecoderParams()
    heatmaps = _checked("heatmaps", heatmaps, NUM_HEATMAPS)
    pafs = _checked("pafs", pafs, NUM_PAFS)
    if heatmaps.shape[1:] != pafs.shape[1:]:
        raise ValueError(f"heatmaps {heatmaps.shape} and pafs {pafs.shape} differ in spatial size")

    cand = _find_candidates(heatmaps, geometry, params)
    limbs = [(channels, cand.grid_xy[cand.of_type(a)], cand.grid_xy[cand.of_type(b)])
             for (a, b), channels in zip(LIMBS, LIMB_PAF_CHANNELS, strict=True)]  # fmt: skip
    scored = score_limbs(pafs, limbs, params.paf_samples, params.min_paf_score, params.min_paf_success_ratio)
    connections = [
        (ia + cand.first[a], ib + cand.first[b], aff)
        for (a, b), (ia, ib, aff) in zip(LIMBS, match_limbs(scored), strict=True)
    ]
    people = assemble(connections, cand.score)

    kept = (people.count >= params.min_keypoints) & (
        people.score >= params.min_mean_score * np.maximum(people.count, 1)
    )
    ids, count = people.ids[kept], people.count[kept]
    scores = _ranking_score(people.score[kept], count)
    order = np.argsort(-scores, kind="stable")
    ids, scores = ids[order], scores[order]

    keypoints = np.zeros((len(ids), NUM_KEYPOINTS, 3))
    found = ids >= 0
    keypoints[found, :2] = cand.image_xy[ids[found]]
    keypoints[found, 2] = cand.score[ids[found]]
    return Poses.from_openpose(keypoints, scores)

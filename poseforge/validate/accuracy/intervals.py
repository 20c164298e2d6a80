"""Bootstrap confidence intervals of COCO keypoint AP, from one pycocotools evaluation.

An AP measured on a few hundred people is an estimate: another draw of images from the same
population would give another AP. The percentile bootstrap resamples the images with replacement
and re-scores each resample; the spread of those scores says how far the figure can be trusted,
and resampling the same images for two result sets says whether their difference is real.

Re-running `COCOeval` per resample would cost one OKS matching each time. The matching of a
detection only depends on its own image, so it is done once (`match_images`); a resample then only
changes how many times each image counts, and AP is re-accumulated from the stored matches with
those counts as weights (`ap_from_weights`), exactly as `COCOeval.accumulate()` and `summarize()`
do, vectorised over blocks of resamples.

`poseforge compare A.json B.json` prints both intervals, the paired one and their timings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from poseforge.documents import same_figure
from poseforge.errors import PoseforgeError
from poseforge.validate.accuracy.scoring import evaluate_keypoints

MAX_DETS = 20  # COCOeval's keypoint summary uses maxDets=20 for every AP
AREAS = ("all", "medium", "large")
METRICS = {  # metric -> (area range, OKS threshold or None for the mean over all ten)
    "ap": ("all", None),
    "ap50": ("all", 0.5),
    "ap75": ("all", 0.75),
    "ap_medium": ("medium", None),
    "ap_large": ("large", None),
}
METHOD = "percentile bootstrap, images resampled with replacement"
BLOCK_ELEMENTS = 1 << 21  # (resamples x thresholds x detections) per vectorised block
DRAW_ELEMENTS = 1 << 20  # (resamples x images) drawn at a time: 8 MB of draws, whatever the resamples
# An interval's time grows with resamples x (images + RESAMPLE_COST): a resample costs about what 50
# images do (its precision envelope, 10 OKS thresholds x 101 recall points). MAX_WORK bounds it to
# about 40 s here: 4,950 resamples of val2017's 5,000 images, 132,000 of coco-val's 138 (a million of
# 5,000, which --resamples allows, would take hours, and drawn at once 40 GB).
RESAMPLE_COST = 50
MAX_WORK = 25_000_000


@dataclass(frozen=True, eq=False)
class AreaMatches:
    """What `accumulate()` needs for one area range, detections already in its global score order."""

    det_image: np.ndarray  # (D,) index into image_ids of each detection
    scores: np.ndarray  # (D,) detection scores, descending (stable mergesort, as pycocotools)
    tp: np.ndarray  # (T, D) bool: matched to a non-ignored gt at each OKS threshold
    fp: np.ndarray  # (T, D) bool: unmatched and not ignored
    gt_count: np.ndarray  # (I,) non-ignored ground truths per image


@dataclass(frozen=True, eq=False)
class ImageMatches:
    """Per-image OKS matching of one result set, for every area range of the keypoint summary."""

    image_ids: tuple[int, ...]
    areas: dict[str, AreaMatches]
    iou_thresholds: np.ndarray  # (T,)
    recall_thresholds: np.ndarray  # (R,)

    @property
    def people(self) -> int:
        """Non-ignored ground-truth people over the images (what AP's recall is counted against)."""
        return int(self.areas["all"].gt_count.sum())

    @property
    def detections(self) -> int:
        return int(self.areas["all"].det_image.size)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval, ready for a JSON report."""

    metric: str
    ap: float  # full-sample value (for a paired interval: the full-sample difference)
    low: float
    high: float
    std: float
    level: float
    resamples: int
    seed: int
    images: int
    people: int
    undefined: int = 0  # resamples without any ground truth, where AP is undefined (left out)
    method: str = METHOD

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def match_images(coco_gt: Any, results: list[dict], image_ids: Sequence[int]) -> ImageMatches:
    """Run COCOeval's per-image evaluation once over `image_ids` and keep its matches as flat arrays.

    Empty `results` are scored as no detections: AP 0 wherever there is ground truth.
    """
    return matches_from_eval(evaluate_keypoints(coco_gt, results, image_ids))


def matches_from_eval(evaluator: Any) -> ImageMatches:
    """The matches of an evaluated COCOeval (`scoring.evaluate_keypoints`), as flat arrays."""
    p = evaluator.params
    if len(p.catIds) != 1:
        raise ValueError(f"expected one keypoint category (person), the annotations have {len(p.catIds)}")
    if list(p.maxDets) != [MAX_DETS] or list(p.areaRngLbl) != list(AREAS):
        raise ValueError(f"unexpected COCOeval keypoint parameters {p.maxDets} {p.areaRngLbl}")
    ids = tuple(int(i) for i in p.imgIds)  # evaluate() sorts and deduplicates them
    n = len(ids)
    areas = {}
    for a, label in enumerate(AREAS):
        per_image = evaluator.evalImgs[a * n : (a + 1) * n]
        areas[label] = _area_matches(per_image, len(p.iouThrs))
    return ImageMatches(ids, areas, np.asarray(p.iouThrs, dtype=np.float64), np.asarray(p.recThrs, dtype=np.float64))


def _area_matches(per_image: list[dict | None], thresholds: int) -> AreaMatches:
    det_image, scores, matched, ignored = [], [], [], []
    gt_count = np.zeros(len(per_image), dtype=np.int64)
    for i, e in enumerate(per_image):
        if e is None:  # neither ground truth nor detections in this image
            continue
        s = np.asarray(e["dtScores"][:MAX_DETS], dtype=np.float64)
        scores.append(s)
        det_image.append(np.full(s.size, i, dtype=np.int64))
        matched.append(np.asarray(e["dtMatches"][:, :MAX_DETS]).reshape(thresholds, s.size))
        ignored.append(np.asarray(e["dtIgnore"][:, :MAX_DETS]).reshape(thresholds, s.size))
        gt_count[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
    if not scores:
        empty = np.zeros((thresholds, 0), dtype=bool)
        return AreaMatches(np.zeros(0, np.int64), np.zeros(0), empty, empty.copy(), gt_count)
    all_scores = np.concatenate(scores)
    order = np.argsort(-all_scores, kind="mergesort")  # as accumulate(): image order breaks ties
    dtm = np.concatenate(matched, axis=1)[:, order]
    dtig = np.concatenate(ignored, axis=1)[:, order]
    tp = np.logical_and(dtm, np.logical_not(dtig))
    fp = np.logical_and(np.logical_not(dtm), np.logical_not(dtig))
    return AreaMatches(np.concatenate(det_image)[order], all_scores[order], tp, fp, gt_count)


def _check_weights(matches: ImageMatches, weights: Any, ndim: int = 1) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim != ndim or w.shape[-1] != len(matches.image_ids):
        want = "one count per image" if ndim == 1 else "a (resamples, images) count matrix"
        raise ValueError(f"weights must be {want} ({len(matches.image_ids)} images), got shape {w.shape}")
    if not (np.issubdtype(w.dtype, np.integer) or np.issubdtype(w.dtype, np.floating) or w.dtype == bool):
        raise ValueError(f"weights must be integer counts, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w != np.round(w)):
        raise ValueError("weights must be non-negative integer counts (times each image is drawn)")
    return w


def _precision(area: AreaMatches, weights: np.ndarray, t_index: np.ndarray, rec_thrs: np.ndarray) -> np.ndarray:
    """Interpolated precision (B, T, R) of `accumulate()` for weight rows (B, I); NaN rows have no gt.

    A detection of an image drawn k times counts k times at once in the cumulative sums, which is
    what k copies of the image give: the intermediate points of a run of equal detections never
    change the precision envelope read at the recall thresholds.
    """
    b, r = weights.shape[0], rec_thrs.size
    tp_mask, fp_mask = area.tp[t_index], area.fp[t_index]
    t, d = tp_mask.shape
    npig = weights @ area.gt_count.astype(np.float64)  # (B,)
    out = np.zeros((b, t, r))
    out[npig == 0] = np.nan
    if d == 0:
        return out
    w = weights[:, area.det_image][:, None, :]  # (B, 1, D)
    tp = np.cumsum(tp_mask * w, axis=2)
    fp = np.cumsum(fp_mask * w, axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = tp / npig[:, None, None]
    pr = tp / (fp + tp + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, :, ::-1], axis=2)[:, :, ::-1]  # monotone from the right
    # searchsorted(rc, thr, side="left") per row is #{d: rc[d] < thr} = #{d: thr_count(rc[d]) <= r}
    # where thr_count(x) = #{r: thr[r] <= x}: one vectorised searchsorted, then a histogram.
    rows = b * t
    counts = np.searchsorted(rec_thrs, np.nan_to_num(rc, nan=-1.0).reshape(rows, d), side="right")
    counts += (np.arange(rows) * (r + 1))[:, None]
    hist = np.bincount(counts.ravel(), minlength=rows * (r + 1)).reshape(rows, r + 1)
    inds = np.cumsum(hist, axis=1)[:, :r]  # (rows, R)
    q = np.take_along_axis(pr.reshape(rows, d), np.minimum(inds, d - 1), axis=1)
    q[inds >= d] = 0.0  # past the last detection: pycocotools leaves zeros
    q = q.reshape(b, t, r)
    q[npig == 0] = np.nan
    return q


def _metric_rows(matches: ImageMatches, weights: np.ndarray, metric: str) -> np.ndarray:
    """The metric for each weight row (B, I), NaN where no ground truth is counted."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    label, threshold = METRICS[metric]
    area = matches.areas[label]
    thrs = matches.iou_thresholds
    t_index = np.arange(thrs.size) if threshold is None else np.where(threshold == thrs)[0]
    out = np.empty(weights.shape[0])
    block = max(1, BLOCK_ELEMENTS // max(1, t_index.size * area.det_image.size))
    for start in range(0, weights.shape[0], block):
        q = _precision(area, weights[start : start + block], t_index, matches.recall_thresholds)
        out[start : start + block] = q.reshape(q.shape[0], -1).mean(axis=1)  # summarize(): mean over T x R
    return out


def ap_from_weights(matches: ImageMatches, weights: Any = None, metric: str = "ap") -> float:
    """AP of the image set where image i counts `weights[i]` times (all ones: pycocotools' own figure).

    Returns -1.0 where no ground truth is counted, as `COCOeval.summarize()` does.
    """
    w = np.ones(len(matches.image_ids)) if weights is None else _check_weights(matches, weights)
    value = float(_metric_rows(matches, w[None, :], metric)[0])
    return -1.0 if np.isnan(value) else value


def resampled_ap(matches: ImageMatches, weights: Any, metric: str = "ap") -> np.ndarray:
    """The metric for each row of a (resamples, images) count matrix, NaN where a row counts no ground truth."""
    return _metric_rows(matches, _check_weights(matches, weights, ndim=2), metric)


def metrics_from_weights(matches: ImageMatches, weights: Any = None) -> dict[str, float]:
    """All AP figures of the keypoint summary (`scoring.STAT_NAMES`' AP half) for one weighting."""
    return {metric: ap_from_weights(matches, weights, metric) for metric in METRICS}


def check_resamples(images: int, resamples: int) -> None:
    """Refuse an interval of more work than MAX_WORK (see RESAMPLE_COST), in one line saying how many
    resamples these images allow."""
    if resamples * (images + RESAMPLE_COST) > MAX_WORK:
        most = MAX_WORK // (images + RESAMPLE_COST)
        raise PoseforgeError(f"{resamples} bootstrap resamples of {images} images would take too long: at most "
                             f"{most} on {images} images (--resamples)")  # fmt: skip


def _weight_blocks(images: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """(rows, images) counts, rows summing to `resamples`: each row draws `images` images with
    replacement. Drawn a block at a time (memory bounded), the same counts as in one draw."""
    if images < 1 or resamples < 1:
        raise ValueError(f"need at least one image and one resample, got {images} and {resamples}")
    check_resamples(images, resamples)
    rng = np.random.default_rng(seed)
    rows = max(1, DRAW_ELEMENTS // images)
    for start in range(0, resamples, rows):
        n = min(rows, resamples - start)
        draws = rng.integers(0, images, size=(n, images))
        flat = (draws + (np.arange(n) * images)[:, None]).ravel()
        yield np.bincount(flat, minlength=n * images).reshape(n, images)


def resample_weights(images: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, images) counts: each row draws `images` images with replacement."""
    return np.concatenate(list(_weight_blocks(images, resamples, seed)))


def _resampled(images: int, resamples: int, seed: int, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`score` of every resample's weights, a block of resamples at a time."""
    return np.concatenate([score(block.astype(float)) for block in _weight_blocks(images, resamples, seed)])


def _interval(
    metric: str, point: float, values: np.ndarray, level: float, resamples: int, seed: int, matches: ImageMatches
) -> Interval:
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        raise ValueError("no resample holds any ground truth: the interval is undefined")
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(defined, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return Interval(
        metric=metric,
        ap=point,
        low=float(low),
        high=float(high),
        std=float(np.std(defined, ddof=1)) if defined.size > 1 else 0.0,
        level=level,
        resamples=resamples,
        seed=seed,
        images=len(matches.image_ids),
        people=matches.people,
        undefined=int(values.size - defined.size),
    )


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def bootstrap_ap(
    matches: ImageMatches, resamples: int = 1000, seed: int = 0, level: float = 0.95, metric: str = "ap"
) -> Interval:
    """Percentile bootstrap interval of AP: how far another draw of images could move the figure."""
    _check_level(level)
    point = ap_from_weights(matches, None, metric)
    if point < 0:
        raise ValueError("no ground truth among the images: AP is undefined")
    values = _resampled(len(matches.image_ids), resamples, seed, lambda w: _metric_rows(matches, w, metric))
    return _interval(metric, point, values, level, resamples, seed, matches)


def interval_problem(claimed: dict[str, Any] | None, matches: ImageMatches) -> str | None:
    """What a report says of its AP interval that the seeded bootstrap of `matches` does not give again
    (with its own resamples, seed and level: the same draws give the same bounds), or None. No interval
    is right exactly where the images hold nobody to count."""
    if claimed is None or matches.people == 0:
        if (claimed is None) == (matches.people == 0):
            return None
        return "no interval but its results give one" if claimed is None else "an interval but its results count nobody"
    if "seed" not in claimed:
        return "an interval without its seed, which cannot be drawn again"
    try:
        derived = bootstrap_ap(matches, claimed["resamples"], claimed["seed"], claimed["level"]).to_dict()
    except ValueError as exc:
        return f"an interval its results cannot give ({exc})"
    for key in sorted(claimed.keys() | derived.keys()):
        got, value = claimed.get(key), derived.get(key)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (got, value))
        if not (same_figure(got, value) if numbers else got == value):
            return f"interval.{key} {got} but its results give {value}"
    return None


def _check_paired(matches_a: ImageMatches, matches_b: ImageMatches) -> None:
    if matches_a.image_ids != matches_b.image_ids:
        raise ValueError(
            f"paired results must cover the same images in the same order: {len(matches_a.image_ids)} "
            f"and {len(matches_b.image_ids)} image ids, {len(set(matches_a.image_ids) ^ set(matches_b.image_ids))} "
            "not shared"
        )
    for label in AREAS:
        if not np.array_equal(matches_a.areas[label].gt_count, matches_b.areas[label].gt_count):
            raise ValueError("paired results were matched against different ground truth")


def paired_difference(
    matches_a: ImageMatches,
    matches_b: ImageMatches,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metric: str = "ap",
) -> Interval:
    """Interval of AP(b) - AP(a) with the same image resamples for both, so shared image difficulty cancels."""
    _check_level(level)
    _check_paired(matches_a, matches_b)
    point_a, point_b = ap_from_weights(matches_a, None, metric), ap_from_weights(matches_b, None, metric)
    if point_a < 0:
        raise ValueError("no ground truth among the images: AP is undefined")
    values = _resampled(len(matches_a.image_ids), resamples, seed,
                        lambda w: _metric_rows(matches_b, w, metric) - _metric_rows(matches_a, w, metric))  # fmt: skip
    return _interval(f"{metric} difference (b - a)", point_b - point_a, values, level, resamples, seed, matches_a)


def resolvable_difference(
    matches_a: ImageMatches,
    matches_b: ImageMatches,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metric: str = "ap",
) -> float:
    """The smallest change the image set can resolve between two models like a and b.

    It is half the width of the paired percentile interval of AP(b) - AP(a): a difference smaller
    than that is within the spread a redraw of the images gives, so its interval would include 0.
    """
    interval = paired_difference(matches_a, matches_b, resamples, seed, level, metric)
    return interval.width / 2.0

"""Bootstrap intervals of COCO keypoint AP: exact against pycocotools, and statistically sane."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.intervals import (
    METHOD,
    Interval,
    _weight_blocks,
    ap_from_weights,
    bootstrap_ap,
    match_images,
    metrics_from_weights,
    paired_difference,
    resample_weights,
    resampled_ap,
    resolvable_difference,
)
from poseforge.validate.accuracy.scoring import coco_keypoint_metrics
from tests.conftest import run_cli

AP_NAMES = ("ap", "ap50", "ap75", "ap_medium", "ap_large")


@pytest.fixture(scope="module")
def mini(assets: Path) -> Any:
    return CocoKeypoints(assets / "coco-mini").coco


@pytest.fixture(scope="module")
def val(assets: Path) -> Any:
    return CocoKeypoints(assets / "coco-val").coco


def perturbed(coco: Any, seed: int, sigma: float = 0.05, drop: float = 0.15) -> tuple[list[dict], list[dict]]:
    """(people, false positives): every annotated person, jittered by a per-person amount of
    Gaussian noise scaled by its size, some dropped, random scores; plus random false positives
    on every image, people or not."""
    rng = np.random.default_rng(seed)
    people = []
    for ann in sorted(coco.dataset["annotations"], key=lambda a: a["id"]):
        if ann["num_keypoints"] == 0 or ann["iscrowd"] or rng.random() < drop:
            continue
        k = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
        k[:, :2] += rng.normal(0.0, sigma * np.sqrt(ann["area"]) * rng.uniform(0.2, 2.0), (17, 2))
        k[:, 2] = 1.0
        people.append(detection(ann["image_id"], k, rng.uniform(0.2, 1.0)))
    false_positives = []
    for image in sorted(coco.dataset["images"], key=lambda i: i["id"]):
        for _ in range(rng.poisson(0.5)):
            k = np.ones((17, 3))
            k[:, 0], k[:, 1] = rng.uniform(0, image["width"], 17), rng.uniform(0, image["height"], 17)
            false_positives.append(detection(image["id"], k, rng.uniform(0.0, 0.6)))
    return people, false_positives


def detection(image_id: int, keypoints: np.ndarray, score: float) -> dict:
    return {"image_id": int(image_id), "category_id": 1, "keypoints": keypoints.ravel().tolist(), "score": float(score)}


def destroyed(people: list[dict], fraction: float, seed: int) -> list[dict]:
    """`people` with a fraction of them moved far off their person: each becomes a miss and a false positive."""
    rng = np.random.default_rng(seed)
    out = [dict(p) for p in people]
    for i in rng.choice(len(out), size=round(fraction * len(out)), replace=False):
        k = np.asarray(out[i]["keypoints"]).reshape(17, 3)
        out[i]["keypoints"] = (k + np.array([400.0, 300.0, 0.0])).ravel().tolist()
    return out


def make_coco(dataset: dict) -> Any:
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def synthetic(images: int, seed: int) -> tuple[Any, list[dict]]:
    """Synthetic ground truth with 0-3 people per image and detections from one fixed noise process."""
    rng = np.random.default_rng(seed)
    imgs, anns, results = [], [], []
    for image_id in range(1, images + 1):
        imgs.append({"id": image_id, "width": 640, "height": 480, "file_name": f"{image_id}.jpg"})
        for _ in range(rng.integers(0, 4)):
            w, h = rng.uniform(40, 200), rng.uniform(80, 400)
            x0, y0 = rng.uniform(0, 640 - w), rng.uniform(0, 480 - min(h, 470))
            k = np.zeros((17, 3))
            visible = rng.random(17) < 0.8
            visible[0] = True
            k[visible, 0], k[visible, 1] = x0 + rng.uniform(0, w, visible.sum()), y0 + rng.uniform(0, h, visible.sum())
            k[visible, 2] = 2
            area = 0.6 * w * h
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": k.ravel().tolist(),
                    "num_keypoints": int(visible.sum()),
                    "area": area,
                    "bbox": [x0, y0, w, h],
                    "iscrowd": 0,
                }
            )
            if rng.random() < 0.85:
                d = k.copy()
                d[:, :2] += rng.normal(0.0, 0.06 * np.sqrt(area) * rng.uniform(0.2, 2.0), (17, 2))
                d[:, 2] = 1.0
                results.append(detection(image_id, d, rng.uniform(0.2, 1.0)))
        for _ in range(rng.poisson(0.4)):
            d = np.ones((17, 3))
            d[:, 0], d[:, 1] = rng.uniform(0, 640, 17), rng.uniform(0, 480, 17)
            results.append(detection(image_id, d, rng.uniform(0.0, 0.6)))
    names = [f"k{i}" for i in range(17)]
    categories = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": names, "skeleton": []}]
    return make_coco({"images": imgs, "annotations": anns, "categories": categories}), results


# --- exactness -------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize("name", ["mini", "val"])
@pytest.mark.parametrize("seed", [0, 1])
def test_all_ones_equals_pycocotools_exactly(name: str, seed: int, request: pytest.FixtureRequest) -> None:
    coco = request.getfixturevalue(name)
    people, false_positives = perturbed(coco, seed)
    results = people + false_positives
    ids = sorted(coco.getImgIds())
    expected = coco_keypoint_metrics(coco, results, ids)
    matches = match_images(coco, results, ids)
    assert matches.image_ids == tuple(ids)
    assert 0.0 < expected["ap"] < 1.0
    assert metrics_from_weights(matches) == {k: expected[k] for k in AP_NAMES}  # exact, not approx
    assert ap_from_weights(matches, np.ones(len(ids), dtype=int)) == expected["ap"]
    assert bootstrap_ap(matches, resamples=20).ap == expected["ap"]
    # a subset of the images, in a shuffled order (pycocotools sorts them)
    subset = list(np.random.default_rng(seed).permutation(ids)[: len(ids) // 2])
    assert ap_from_weights(match_images(coco, results, subset)) == coco_keypoint_metrics(coco, results, subset)["ap"]


def test_tied_scores_keep_pycocotools_order(val: Any) -> None:
    """Scores in steps of 0.1 tie across images; ties must break as accumulate()'s stable sort does."""
    people, false_positives = perturbed(val, 5)
    results = [{**r, "score": round(r["score"], 1)} for r in people + false_positives]
    ids = sorted(val.getImgIds())
    expected = coco_keypoint_metrics(val, results, ids)
    assert metrics_from_weights(match_images(val, results, ids)) == {k: expected[k] for k in AP_NAMES}


def test_results_are_not_mutated(mini: Any) -> None:
    people, _ = perturbed(mini, 0)
    before = json.dumps(people)
    match_images(mini, people, sorted(mini.getImgIds()))
    assert json.dumps(people) == before


def test_vectorised_rows_equal_single_weightings(val: Any) -> None:
    people, false_positives = perturbed(val, 2)
    matches = match_images(val, people + false_positives, sorted(val.getImgIds()))
    weights = resample_weights(len(matches.image_ids), 40, seed=5)
    rows = resampled_ap(matches, weights)
    assert [ap_from_weights(matches, w) for w in weights] == rows.tolist()
    assert resampled_ap(matches, np.ones((3, len(matches.image_ids)), int)).tolist() == [ap_from_weights(matches)] * 3


def test_resamples_are_drawn_a_block_at_a_time() -> None:
    """4,000 resamples of 5,000 images were drawn at once (3 arrays of 160 MB; a million of them, which
    --resamples takes, 40 GB each): now a block at a time, the counts exactly those of one draw, so an
    interval is what it was."""
    import tracemalloc

    tracemalloc.start()
    try:
        total = sum(int(block.sum()) for block in _weight_blocks(5000, 4000, seed=3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 4000 * 5000 and peak < 64 << 20, f"{peak / 2**20:.0f} MiB at the peak"
    draws = np.random.default_rng(3).integers(0, 700, size=(300, 700))
    at_once = np.stack([np.bincount(row, minlength=700) for row in draws])
    assert np.array_equal(np.concatenate(list(_weight_blocks(700, 300, seed=3))), at_once)
    assert np.array_equal(resample_weights(700, 300, seed=3), at_once)


def test_weights_mean_duplicated_images(mini: Any) -> None:
    """Counting image i k times scores like pycocotools on a set holding k copies of it (none if 0)."""
    people, false_positives = perturbed(mini, 3)
    results = people + false_positives
    ids = sorted(mini.getImgIds())
    matches = match_images(mini, results, ids)
    weights = resample_weights(len(ids), 1, seed=11)[0]
    assert weights.max() >= 3 and (weights == 0).any()
    copies = {image_id: int(k) for image_id, k in zip(ids, weights, strict=True)}
    images, anns, dets = [], [], []
    for image in mini.dataset["images"]:
        images += [{**image, "id": image["id"] * 10 + c} for c in range(copies[image["id"]])]
    for ann in mini.dataset["annotations"]:
        for c in range(copies[ann["image_id"]]):
            anns.append({**ann, "id": len(anns) + 1, "image_id": ann["image_id"] * 10 + c})
    for d in results:
        dets += [{**d, "image_id": d["image_id"] * 10 + c} for c in range(copies[d["image_id"]])]
    duplicated = make_coco({**mini.dataset, "images": images, "annotations": anns})
    expected = coco_keypoint_metrics(duplicated, dets, sorted(duplicated.getImgIds()))
    assert expected["ap"] != coco_keypoint_metrics(mini, results, ids)["ap"]
    for name, value in metrics_from_weights(matches, weights).items():
        assert value == pytest.approx(expected[name], abs=1e-12), name


# --- edge cases ------------------------------------------------------------------------------


def test_no_detections_score_zero(mini: Any) -> None:
    matches = match_images(mini, [], sorted(mini.getImgIds()))
    assert matches.detections == 0 and matches.people == 68
    assert ap_from_weights(matches) == 0.0 == coco_keypoint_metrics(mini, [], sorted(mini.getImgIds()))["ap"]
    interval = bootstrap_ap(matches, resamples=50)
    assert (interval.ap, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_images_without_people_leave_ap_undefined(mini: Any) -> None:
    people, false_positives = perturbed(mini, 0)
    empty = sorted(set(mini.getImgIds()) - {a["image_id"] for a in mini.dataset["annotations"]})
    matches = match_images(mini, people + false_positives, empty)
    assert matches.people == 0 and matches.detections > 0
    assert ap_from_weights(matches) == -1.0  # COCOeval.summarize()'s "no ground truth"
    with pytest.raises(ValueError, match="undefined"):
        bootstrap_ap(matches, resamples=10)


def test_crowd_and_unannotated_people_are_ignored_as_pycocotools_does(mini: Any) -> None:
    ignored = [a for a in mini.dataset["annotations"] if a["iscrowd"] or a["num_keypoints"] == 0]
    assert ignored, "coco-mini has crowd / keypoint-less people"
    people, _ = perturbed(mini, 4, drop=0.0)
    on_ignored = [detection(a["image_id"], np.ones((17, 3)) * [a["bbox"][0], a["bbox"][1], 1], 0.9) for a in ignored]
    results = people + on_ignored
    ids = sorted(mini.getImgIds())
    assert ap_from_weights(match_images(mini, results, ids)) == coco_keypoint_metrics(mini, results, ids)["ap"]


def test_hostile_input_is_refused(mini: Any) -> None:
    people, _ = perturbed(mini, 0)
    matches = match_images(mini, people, sorted(mini.getImgIds()))
    n = len(matches.image_ids)
    for bad in (np.ones(n - 1), np.ones(n + 1), -np.ones(n), np.full(n, 0.5), np.ones((2, n)), np.full(n, np.nan)):
        with pytest.raises(ValueError, match="weights"):
            ap_from_weights(matches, bad)
    with pytest.raises(ValueError, match="weights"):
        resampled_ap(matches, np.ones(n))
    with pytest.raises(ValueError, match="resample"):
        bootstrap_ap(matches, resamples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ap(matches, level=95)
    with pytest.raises(ValueError, match="metric"):
        ap_from_weights(matches, metric="ar")
    with pytest.raises(ValueError, match="no image ids"):
        match_images(mini, people, [])
    with pytest.raises(ValueError, match="do not fit"):
        match_images(mini, [{**people[0], "image_id": -5}], sorted(mini.getImgIds()))
    fewer = match_images(mini, people, sorted(mini.getImgIds())[1:])
    with pytest.raises(ValueError, match="same images"):
        paired_difference(matches, fewer, resamples=10)
    dropped = next(a["id"] for a in mini.dataset["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
    fewer_people = make_coco(
        {**mini.dataset, "annotations": [a for a in mini.dataset["annotations"] if a["id"] != dropped]}
    )
    other = match_images(fewer_people, people, sorted(mini.getImgIds()))  # same ids, other ground truth
    with pytest.raises(ValueError, match="different ground truth"):
        paired_difference(matches, other, resamples=10)


# --- statistics ------------------------------------------------------------------------------


def test_interval_is_reproducible_and_reported(val: Any) -> None:
    people, false_positives = perturbed(val, 0)
    matches = match_images(val, people + false_positives, sorted(val.getImgIds()))
    first, again, other = (bootstrap_ap(matches, 300, seed) for seed in (7, 7, 8))
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert abs(first.low - other.low) < 0.02 and abs(first.high - other.high) < 0.02
    assert first.low < first.ap < first.high and first.std > 0
    assert 0.03 < first.width < 0.2  # 266 people: neither degenerate nor useless
    d = json.loads(json.dumps(first.to_dict()))
    assert d["ap"] == first.ap and d["level"] == 0.95 and d["resamples"] == 300 and d["seed"] == 7
    assert d["method"] == METHOD and d["people"] == 266 and d["images"] == 138
    assert Interval(**d) == first


def test_identical_results_give_zero_difference(val: Any) -> None:
    people, false_positives = perturbed(val, 1)
    results = people + false_positives
    ids = sorted(val.getImgIds())
    a, b = match_images(val, results, ids), match_images(val, [dict(r) for r in results], ids)
    interval = paired_difference(a, b, resamples=200, seed=3)
    assert (interval.ap, interval.low, interval.high, interval.std) == (0.0, 0.0, 0.0, 0.0)
    assert resolvable_difference(a, b, resamples=200) == 0.0


def test_injected_shift_is_recovered(val: Any) -> None:
    people, false_positives = perturbed(val, 0)
    ids = sorted(val.getImgIds())
    a = match_images(val, people + false_positives, ids)
    b = match_images(val, destroyed(people, 0.3, seed=1) + false_positives, ids)
    truth = coco_keypoint_metrics(val, destroyed(people, 0.3, seed=1) + false_positives, ids)["ap"]
    truth -= coco_keypoint_metrics(val, people + false_positives, ids)["ap"]
    assert truth < -0.15
    paired = paired_difference(a, b, resamples=500, seed=0)
    assert paired.ap == truth
    assert paired.low < truth < paired.high < 0.0  # the shift is resolved
    assert paired.metric == "ap difference (b - a)"
    # pairing removes the shared image difficulty: narrower than either model's own interval
    assert paired.width < bootstrap_ap(a, 500, seed=0).width
    # a small change (2 of 233 people) sits inside the noise: its interval reaches 0
    small = match_images(val, destroyed(people, 2 / len(people), seed=2) + false_positives, ids)
    tiny = paired_difference(a, small, resamples=500, seed=0)
    assert tiny.ap < 0.0 and tiny.low < tiny.ap and tiny.high >= 0.0


def test_interval_narrows_as_one_over_sqrt_n() -> None:
    """4x the images, same noise process: half the width (averaged over three scenes, as one scene of
    50 images varies by itself)."""
    widths = {}
    for images in (50, 200):
        per_scene = []
        for scene in range(3):
            coco, results = synthetic(images, seed=10 * scene + images)
            interval = bootstrap_ap(match_images(coco, results, sorted(coco.getImgIds())), resamples=500, seed=scene)
            assert 0.15 < interval.ap < 0.9
            per_scene.append(interval.width)
        widths[images] = float(np.mean(per_scene))
    assert 1.5 < widths[50] / widths[200] < 2.7, widths


@pytest.mark.slow
def test_network_results_match_pycocotools(
    mini_val_reports: dict[str, dict], omz_build: Path, assets: Path, tmp_path: Path
) -> None:
    """Real decoded network output: exact AP, and a paired FP32 vs Intel INT8 interval."""
    coco = CocoKeypoints(assets / "coco-mini").coco
    matches, reports = {}, {}
    for name in ("ir-fp32", "omz-int8"):
        reports[name] = mini_val_reports[name]
        results = json.loads(Path(reports[name]["results_file"]).read_text())
        matches[name] = match_images(coco, results, sorted(coco.getImgIds()))
        assert metrics_from_weights(matches[name]) == {k: reports[name][k] for k in AP_NAMES}
        assert 0.3 < reports[name]["ap"] < 0.6
        assert reports[name]["interval"] == bootstrap_ap(matches[name], 1000, 0).to_dict()  # what the report says
    paired = paired_difference(matches["ir-fp32"], matches["omz-int8"], resamples=1000)
    assert paired.ap == reports["omz-int8"]["ap"] - reports["ir-fp32"]["ap"]
    assert paired.low <= paired.ap <= paired.high and 0.0 < paired.width < 0.1
    # `poseforge compare` gives the same paired interval from the two reports, and its timings.
    ir_fp32, omz_int8 = (omz_build / "reports" / f"{name}-val.json" for name in ("ir-fp32", "omz-int8"))
    result = run_cli("compare", str(ir_fp32), str(omz_int8), "-o", str(tmp_path / "cmp.json"))
    assert result.returncode == 0, result.stderr
    assert "B - A:" in result.stdout and "resamples (A, B, paired)" in result.stdout and "68 people" in result.stdout
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert saved["b_minus_a"] == paired.to_dict() and saved["significant"] == (paired.low > 0 or paired.high < 0)

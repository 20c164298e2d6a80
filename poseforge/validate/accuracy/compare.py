"""`poseforge compare A.json B.json`: the paired AP difference of two reports on the same images.

    comparison = compare_reports("reports/ir-fp32-val.json", "reports/ir-int8-val.json")

Both reports' results are re-matched once (pycocotools' OKS matching) and the SAME image
resamples score both, so the interval of AP(B) - AP(A) cancels what the images share: only
that paired interval can say that one artifact is more accurate than another, and only when
it excludes zero. Two reports of different protocols (or native input heights) differ by the
protocol too (val against native at height 256 is about 0.11 AP): refused unless
`cross_protocol`, and then said so.

Every figure of a report that gate, report and bundle use goes through `rederived`: scored again
from the results the report pins, it is refused unless it is what they give.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from poseforge.artifacts import protocol_label, report_key, run_name
from poseforge.documents import COCO_ANNOTATIONS, same_figure
from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file, sha256_text
from poseforge.text import plural
from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.intervals import (
    ImageMatches,
    bootstrap_ap,
    interval_problem,
    match_images,
    matches_from_eval,
    paired_difference,
)
from poseforge.validate.accuracy.scoring import STAT_NAMES, evaluate_keypoints, keypoint_metrics
from poseforge.validate.accuracy.validate import RESAMPLES, SEED, read_report, read_results


def report_image_ids(report: dict[str, Any], dataset: CocoKeypoints, path: str | Path) -> list[int]:
    """The image ids a report scored: the set's first `limit` images by id, without the skipped
    ones; checked against the ids' sha256 the report recorded."""
    skipped = set(report["skipped_images"])
    ids = [image.id for image in dataset.images(report["dataset"].get("limit")) if image.file_name not in skipped]
    if sha256_text(",".join(map(str, sorted(ids)))) != report["dataset"]["image_ids_sha256"]:
        raise PoseforgeError(f"{path}: its image ids cannot be recovered from {dataset.annotations}")
    return ids


def report_results(
    path: str | Path, datasets: dict[str, CocoKeypoints] | None = None, report: dict[str, Any] | None = None
) -> tuple[dict, list[dict], list[int], CocoKeypoints]:
    """A report (`report`, where the caller has read it from `path`), its results (checked by sha256),
    the ids of the images it scored and the annotations it was scored on (checked by sha256; `datasets`
    caches them by path)."""
    report = read_report(path) if report is None else report
    results = read_results(report, path)
    annotations = Path(report["dataset"]["annotations"])
    bound = {"max_bytes": COCO_ANNOTATIONS.max_bytes, "what": COCO_ANNOTATIONS.what}  # its size before hashing
    if not annotations.is_file() or sha256_file(annotations, **bound) != report["dataset"]["annotations_sha256"]:
        raise PoseforgeError(f"{path} was scored on {annotations}, which is missing or has changed since")
    datasets = {} if datasets is None else datasets
    key = str(annotations.resolve())
    if key not in datasets:
        datasets[key] = CocoKeypoints(annotations.parent.parent)
    dataset = datasets[key]
    return report, results, report_image_ids(report, dataset, path), dataset


def report_matches(path: str | Path, datasets: dict[str, CocoKeypoints] | None = None) -> tuple[dict, ImageMatches]:
    """A report, and its results matched against the annotations it was scored on (checked by sha256)."""
    report, results, image_ids, dataset = report_results(path, datasets)
    return report, match_images(dataset.coco, results, image_ids)


def rederived(
    path: str | Path, report: dict[str, Any], datasets: dict[str, CocoKeypoints] | None = None
) -> ImageMatches:
    """The matches of `report`'s results (read from `path`), refused (PoseforgeError naming it) unless
    every figure it carries that they give is what they give: its ten AP and AR figures (pycocotools
    on the annotations it cites, as validate scored them), its AP interval (the seeded bootstrap again)
    and its counts (images, subset, the set's images and people). What gate, report and bundle read of
    a report; its agreement is another report's results too (agreement_reports.rescored)."""
    _, results, image_ids, dataset = report_results(path, datasets, report)
    try:
        evaluator = evaluate_keypoints(dataset.coco, results, image_ids)
    except ValueError as exc:
        raise PoseforgeError(f"{path}: its results cannot be scored ({exc})") from None
    matches = matches_from_eval(evaluator)
    problem = (metrics_problem(report, keypoint_metrics(evaluator)) or counts_problem(report, image_ids, dataset)
               or interval_problem(report["interval"], matches))  # fmt: skip
    if problem:
        raise PoseforgeError(f"{path} says {problem}: the report does not match what it attests")
    return matches


def metrics_problem(report: dict[str, Any], scored: dict[str, Any]) -> str | None:
    """The first AP or AR figure a report carries that its results do not score, or None."""
    for metric in STAT_NAMES:
        if not same_figure(report[metric], scored[metric]):
            return f"{metric} {report[metric]:.4f} but its results score {scored[metric]:.4f}"
    return None


def counts_problem(report: dict[str, Any], image_ids: list[int], dataset: CocoKeypoints) -> str | None:
    """The first count a report carries that its images and annotations do not give, or None; its image
    set's name too (the annotations' folder), which bundle.json and report.md print beside its figures."""
    total, given = len(dataset.coco.imgs), report["dataset"]
    counts = {"dataset.name": (given["name"], dataset.name),
              "images": (report["images"], len(image_ids)), "subset": (report["subset"], len(image_ids) < total),
              "dataset.images_total": (given["images_total"], total),
              "dataset.people": (given["people"], dataset.people(image_ids))}  # fmt: skip
    for field, (claimed, value) in counts.items():
        if claimed != value:
            return f"{field} {claimed} but its images and annotations give {value}"
    return None


def compare_reports(
    path_a: str | Path, path_b: str | Path, resamples: int = RESAMPLES, seed: int = SEED, cross_protocol: bool = False
) -> dict[str, Any]:
    """AP of A and of B with their intervals, and the paired interval of AP(B) - AP(A). Reports of
    different protocols (or native input heights) are refused unless `cross_protocol`."""
    keys = report_key(read_report(path_a)), report_key(read_report(path_b))
    if Path(path_a).samefile(path_b):  # B - A would be 0 on every resample: "resolves about 0.0000", untrue
        raise PoseforgeError(f"{path_a} and {path_b} are the same report: compare it with another run's")
    if keys[0] != keys[1] and not cross_protocol:
        raise PoseforgeError(f"{path_a} is a {keys[0]} report and {path_b} a {keys[1]} one: their difference would "
                             "be the protocols' as much as the artifacts'; compare reports of one protocol "
                             "(--cross-protocol to compare them anyway)")  # fmt: skip
    datasets: dict[str, CocoKeypoints] = {}
    start = time.perf_counter()
    (report_a, a), (report_b, b) = report_matches(path_a, datasets), report_matches(path_b, datasets)
    matched = time.perf_counter() - start
    if report_a["dataset"]["image_ids_sha256"] != report_b["dataset"]["image_ids_sha256"]:
        raise PoseforgeError(f"{path_a} and {path_b} were scored on different images: no paired difference")
    start = time.perf_counter()
    interval_a, interval_b = bootstrap_ap(a, resamples, seed), bootstrap_ap(b, resamples, seed)
    paired = paired_difference(a, b, resamples, seed)
    resampled = time.perf_counter() - start
    return {
        "a": {**described(path_a, report_a), **interval_a.to_dict()},
        "b": {**described(path_b, report_b), **interval_b.to_dict()},
        "cross_protocol": keys[0] != keys[1],
        "b_minus_a": paired.to_dict(),
        "resolvable": paired.width / 2,
        "significant": paired.low > 0 or paired.high < 0,
        "dataset": report_a["dataset"]["name"],
        "seconds": {"match": matched, "resamples": resampled},
    }


def described(path: str | Path, report: dict[str, Any]) -> dict[str, Any]:
    """What a side of a comparison is: its report, run (artifact and precision hint), protocol and image set."""
    return {
        "report": str(path),
        "artifact": report["artifact"],
        "run": run_name(report["artifact"], report["precision_hint"]),
        "protocol": report_key(report),
        "dataset": report["dataset"]["name"],
    }


def side_line(label: str, side: dict[str, Any]) -> str:
    return (f"{label} {side['run']}, {protocol_label(side['protocol'])}, on {side['dataset']}: AP {side['ap']:.4f} "
            f"[{side['low']:.4f}, {side['high']:.4f}]")  # fmt: skip


def summary_lines(comparison: dict[str, Any]) -> list[str]:
    a, b, d = comparison["a"], comparison["b"], comparison["b_minus_a"]
    level = f"{100 * d['level']:.0f}%"
    mixed = comparison["cross_protocol"]
    if comparison["significant"]:
        better = b if d["ap"] > 0 else a
        verdict = f"{better['run']} {better['protocol']} is more accurate: the paired interval excludes 0"
    else:
        verdict = "no difference this image set can resolve: the paired interval includes 0"
    caution = [f"protocols differ ({a['protocol']} against {b['protocol']}, --cross-protocol): B - A is the "
               "protocols' difference as much as the runs'"] if mixed else []  # fmt: skip
    return [
        f"{comparison['dataset']}: {plural(a['images'], 'image')}, {plural(a['people'], 'person', 'people')}; "
        f"{level} bootstrap intervals, "
        f"{d['resamples']} image resamples (seed {d['seed']})",
        side_line("A", a),
        side_line("B", b),
        *caution,
        f"B - A: {d['ap']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] (paired); {verdict}",
        f"smallest difference this set resolves between them: about {comparison['resolvable']:.4f}",
        f"timing: OKS matching {comparison['seconds']['match']:.2f} s, {3 * d['resamples']} resamples "
        f"(A, B, paired) {comparison['seconds']['resamples']:.2f} s",
    ]

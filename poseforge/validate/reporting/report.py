"""report.md, report.png and an example drawing from a model's validation reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.artifacts import PROTOCOLS, REFERENCE, VARIANT_HINTS, order
from poseforge.errors import PoseforgeError
from poseforge.fileio import MARKDOWN_MARK, PNG_MARK, atomic_outputs, claim, png_with_text
from poseforge.ui import plural
from poseforge.validate.accuracy.compare import report_matches
from poseforge.validate.accuracy.intervals import paired_difference
from poseforge.validate.accuracy.validate import RESAMPLES, SEED
from poseforge.validate.gate import comparable_reports


@dataclass
class Row:
    """One report in report.md: its AP interval and its paired difference to the reference."""

    name: str  # run name: artifact, or artifact.hint for a variant
    path: Path
    report: dict[str, Any]
    difference: dict[str, Any] | None = None  # paired interval of AP(row) - AP(reference), same images

    @property
    def significant(self) -> bool:
        d = self.difference
        return d is not None and (d["low"] > 0 or d["high"] < 0)


def load_rows(model_dir: str | Path, allow_subset: bool = False) -> list[Row]:
    """Every report in `model_dir/reports` (one model, one image set), in pipeline order."""
    rows = [Row(name, path, report) for name, _, path, report in comparable_reports(model_dir, allow_subset)]
    return sorted(rows, key=lambda r: (order(r.name), PROTOCOLS.index(r.report["protocol"])))


def measure_differences(rows: list[Row], resamples: int = RESAMPLES) -> None:
    """Each row's paired difference to the reference artifact under its protocol (the same resamples)."""
    datasets: dict = {}
    matches = {(row.name, row.report["protocol"]): report_matches(row.path, datasets)[1] for row in rows}
    for row in rows:
        reference = matches.get((REFERENCE, row.report["protocol"]))
        if reference is not None and row.name != REFERENCE and reference.people:
            own = matches[(row.name, row.report["protocol"])]
            row.difference = paired_difference(reference, own, resamples, SEED).to_dict()


def resolution(rows: list[Row], protocol: str) -> float | None:
    """Half the median width of the paired intervals: about the smallest change this set resolves.
    Exact conversions (the same poses as the reference: a zero-width interval) say nothing of it."""
    widths = sorted(width for r in rows if r.difference and r.report["protocol"] == protocol
                    and (width := r.difference["high"] - r.difference["low"]) > 0)  # fmt: skip
    return widths[len(widths) // 2] / 2 if widths else None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ap(report: dict[str, Any]) -> str:
    interval = report["interval"]
    return f"{report['ap']:.3f}" + (f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else "")


def _difference(row: Row) -> str:
    d = row.difference
    if d is None:
        return "reference" if row.name == REFERENCE else "-"
    return f"{d['ap']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" + (" *" if row.significant else "")


def markdown(rows: list[Row], model: str) -> str:
    first = rows[0].report
    machine, dataset = first["machine"], first["dataset"]
    hints = sorted({str(r.report["precision_hint"]) for r in rows})
    threads = sorted({str(r.report["threads"]) for r in rows})
    interval = next((r.report["interval"] for r in rows if r.report["interval"]), None)
    resamples = f"{interval['resamples']} image resamples, seed {interval['seed']}" if interval else "no people"
    shape = next((r.report["speed"]["shape"] for r in rows if r.report.get("speed")), None)
    lines = [
        f"# {model}: accuracy and speed of every artifact",
        "",
        f"COCO keypoint AP (pycocotools) on **{dataset['name']}: {plural(first['images'], 'image')}, "
        f"{plural(dataset['people'], 'annotated person', 'annotated people')}** (`{dataset['annotations']}`), with 95% "
        f"bootstrap intervals ({resamples}); "
        + (f"speed at the deploy shape {shape[2]}x{shape[3]}." if shape else "no speed measured."),
        f"Machine: {machine['cpu']}, {machine['cores']} cores, ISA {' '.join(machine['isa'])}. "
        f"Threads {', '.join(threads)}; OpenVINO precision hint {', '.join(hints)}; "
        f"OpenVINO {first['versions'].get('openvino', '?')}, torch {first['versions'].get('torch', '?')}, "
        f"onnxruntime {first['versions'].get('onnxruntime', '?')}.",
        "",
        f"| artifact | protocol | AP [95% interval] | AP - {REFERENCE} [paired 95%] | AP50 | AR | "
        "latency ms (median / p90) | fps | decode ms | e2e fps | size MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        r = row.report
        latency = r.get("latency_ms") or {}
        lines.append(
            f"| {row.name} | {r['protocol']} | {_ap(r)} | {_difference(row)} | {r['ap50']:.3f} | {r['ar']:.3f} | "
            f"{_fmt(latency.get('median'), '.1f')} / {_fmt(latency.get('p90'), '.1f')} | "
            f"{_fmt(r.get('throughput_fps'), '.1f')} | {_fmt(r['decode_ms'], '.2f')} | "
            f"{_fmt(r.get('e2e_fps'), '.1f')} | {r['size_mb']:.1f} |"
        )
    lines += ["", *legend(rows, dataset["people"])]
    notes = sorted({f"{row.name}: {note}" for row in rows for note in row.report.get("notes", [])})
    skipped = [f"{row.name} {row.report['protocol']}: {plural(len(row.report['skipped_images']), 'bad image')} skipped"
               for row in rows if row.report["skipped_images"]]  # fmt: skip
    if notes or skipped:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes + skipped]
    lines += ["", "![AP with intervals, and speed](report.png)", "", "![decoded skeletons](report-example.png)"]
    return "\n".join([*lines, "", MARKDOWN_MARK, ""])


def legend(rows: list[Row], people: int) -> list[str]:
    """What the table's columns mean, and what its accuracy figures can and cannot claim."""
    resolvable = [f"{p} {value:.4f}" for p in PROTOCOLS if (value := resolution(rows, p)) is not None]
    resolves = (
        f". This set resolves differences of about {', '.join(resolvable)} AP (half the median paired interval); "
        "smaller ones are noise."
        if resolvable
        else "."
    )
    return [
        f"- Accuracy claims: an interval says how far another draw of {people} people could move an AP. "
        f"`AP - {REFERENCE}` is paired (both scored on the same image resamples); only a difference marked * (its "
        "interval excludes 0) says that an artifact is more or less accurate than the reference" + resolves,
        f"- A `.{'/'.join(VARIANT_HINTS)}` row is the artifact run under that OpenVINO precision hint (the CPU runs "
        "FP32 in bf16 when not told f32); its difference is to the f32 run of the reference.",
        "- Protocols: `val` = upstream evaluation (height 368, bicubic, centre padding to a multiple of 8 with "
        "grey 128); `deploy` = the artifact's deploy shape, letterboxed; `native` = the image's own aspect at the "
        "deploy height, padded to a multiple of 8.",
        "- latency: LATENCY hint, one request, after warm-up. fps: network throughput, THROUGHPUT hint with an "
        "async queue (torch and onnxruntime: one request after another). decode ms: median per image under the "
        "row's protocol. e2e fps: read, letterbox, infer frame N+1 while decoding frame N, over the COCO images.",
        "- Speed figures are from one run on one machine: compare them as ratios.",
    ]


def plot(rows: list[Row], path: Path, model: str) -> None:
    """AP with its interval as an error bar per artifact and protocol (one row each, so no label
    overlaps another), beside each artifact's network throughput; written to `path` as it is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(row.name for row in rows))
    fig, (ax_ap, ax_fps) = plt.subplots(1, 2, figsize=(10, 1.2 + 0.45 * len(names)), dpi=120, sharey=True,
                                        gridspec_kw={"width_ratios": [3, 2]})  # fmt: skip
    for k, (protocol, marker) in enumerate((("val", "o"), ("deploy", "s"))):
        chosen = [row for row in rows if row.report["protocol"] == protocol]
        for row in chosen:
            y = names.index(row.name) + (k - 0.5) * 0.3
            interval = row.report["interval"] or {"low": row.report["ap"], "high": row.report["ap"]}
            # A percentile interval need not hold its estimate: a bar never reaches past it.
            err = [[max(row.report["ap"] - interval["low"], 0.0)], [max(interval["high"] - row.report["ap"], 0.0)]]
            ax_ap.errorbar(row.report["ap"], y, xerr=err, fmt=marker, color=f"C{k}", capsize=3,
                           label=f"{protocol} protocol" if row is chosen[0] else None)  # fmt: skip
    fps = {row.name: row.report.get("throughput_fps") for row in rows if row.report.get("throughput_fps")}
    ax_fps.barh([names.index(n) for n in fps], list(fps.values()), color="C2")
    for name, value in fps.items():
        ax_fps.annotate(f"{value:.1f}", (value, names.index(name)), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)  # fmt: skip
    dataset = rows[0].report["dataset"]
    ax_ap.set_yticks(range(len(names)), names)
    ax_ap.invert_yaxis()
    ax_ap.set_xlabel(f"COCO keypoint AP, 95% interval ({dataset['name']}, {dataset['people']} people)")
    ax_ap.grid(axis="x", alpha=0.3)
    ax_ap.legend(loc="best", fontsize=8)
    machine = rows[0].report["machine"]
    ax_fps.set_xlabel(f"network throughput at the deploy shape, fps ({machine['cores']} cores)")
    ax_fps.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{model}: accuracy and speed of every artifact")
    fig.tight_layout()
    try:
        fig.savefig(path, metadata=PNG_MARK, format="png")
    finally:
        plt.close(fig)


def example_image(reports: list[dict[str, Any]], coco_dir: str | Path, path: Path) -> None:
    """The COCO image with the most annotated people, decoded by the IR FP32 (or the first artifact),
    written to `path` as it is."""
    import cv2

    from poseforge.decode import decode
    from poseforge.draw import draw_poses
    from poseforge.images import read_image
    from poseforge.preprocess import prepare, to_nchw
    from poseforge.runtime import open_runner
    from poseforge.validate.accuracy.dataset import CocoKeypoints

    dataset = CocoKeypoints(coco_dir)
    counts = {i: sum(a.get("num_keypoints", 0) > 0 for a in dataset.coco.imgToAnns[i]) for i in dataset.coco.imgs}
    image_id = max(sorted(counts), key=counts.get)
    source = next((r for r in reports if r["artifact"] == REFERENCE), reports[0])
    runner = open_runner(source["artifact_file"])
    pixels = read_image(dataset.images_dir / dataset.coco.imgs[image_id]["file_name"])
    prepared = prepare(pixels, "val")
    heatmaps, pafs = runner.run(to_nchw(prepared.image))
    drawing = draw_poses(pixels, decode(heatmaps[0], pafs[0], prepared.geometry))
    ok, encoded = cv2.imencode(".png", drawing)
    if not ok:
        raise PoseforgeError(f"cannot encode {path} as PNG")
    Path(path).write_bytes(png_with_text(encoded.tobytes(), PNG_MARK))


def write_report(model_dir: str | Path, coco_dir: str | Path | None = None, allow_subset: bool = False) -> list[Path]:
    """Measure (paired differences), then render report.md, report.png and the example drawing as
    one unit: all rendered to temporary files, then renamed together (report.md, which shows the
    others, last), so a failure anywhere leaves every previous file as it was."""
    model_dir = Path(model_dir)
    names = ("report.md", "report.png", *(("report-example.png",) if coco_dir else ()))
    targets = [model_dir / name for name in names]
    for target in targets:  # all refused before any work
        claim(target)
    rows = load_rows(model_dir, allow_subset)
    measure_differences(rows)
    model = rows[0].report["model"]
    with atomic_outputs(*targets[1:], targets[0]) as (*images, text):
        plot(rows, images[0], model)
        if coco_dir:
            example_image([row.report for row in rows], coco_dir, images[1])
        text.write_text(markdown(rows, model))
    return targets

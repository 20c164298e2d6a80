"""report.md, report.png and an example drawing from a model's validation reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.artifacts import (
    DEFAULT_HEIGHT,
    INTEL_INT8,
    OURS_INT8,
    PROTOCOLS,
    REFERENCE,
    VARIANT_HINTS,
    artifact_digest,
    order,
    split_protocol_key,
)
from poseforge.errors import PoseforgeError
from poseforge.fileio import MARKDOWN_MARK, PNG_MARK, atomic_outputs, claim, png_with_text
from poseforge.text import plural
from poseforge.validate.accuracy.agreement import RULE
from poseforge.validate.accuracy.agreement_reports import ReportScorer, report_tables
from poseforge.validate.accuracy.compare import rederived
from poseforge.validate.accuracy.intervals import ImageMatches, paired_difference
from poseforge.validate.accuracy.validate import RESAMPLES, SEED
from poseforge.validate.gate import comparable_reports, read_bench, stale_bench
from poseforge.validate.speed.fleet import fleet_lines, read_fleet
from poseforge.validate.speed.interleaved import ratio_sentence, speed_table
from poseforge.validate.speed.tiers import read_tiers


@dataclass
class Row:
    """One report in report.md: its AP interval and its paired difference to the reference."""

    name: str  # run name: artifact, or artifact.hint for a variant
    path: Path
    report: dict[str, Any]
    protocol: str  # its protocol key: val, deploy, native, native@320 (artifacts.protocol_key)
    matches: ImageMatches  # its results matched against the annotations (its figures re-derived from them)
    difference: dict[str, Any] | None = None  # paired interval of AP(row) - AP(reference), same images
    # A native row: the paired interval of AP(row) - AP(the same run at the default height), same images.
    height_difference: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None  # agreement with the reference, with its interval

    @property
    def significant(self) -> bool:
        return significant(self.difference)

    @property
    def height(self) -> int | None:
        """The native protocol's input height; None for val and deploy."""
        return split_protocol_key(self.protocol)[1] if self.report["protocol"] == "native" else None


def significant(difference: dict[str, Any] | None) -> bool:
    return difference is not None and (difference["low"] > 0 or difference["high"] < 0)


def load_rows(model_dir: str | Path, allow_subset: bool = False) -> list[Row]:
    """Every report in `model_dir/reports` (one model, one image set), in pipeline order (native
    heights after the default one); refused, as by the gate, where a report carries a figure its
    results do not give (compare.rederived)."""
    datasets: dict = {}  # the annotations, read once
    rows = [Row(name, path, report, key, rederived(path, report, datasets))
            for name, key, path, report in comparable_reports(model_dir, allow_subset)]  # fmt: skip
    return sorted(rows, key=lambda r: (order(r.name), PROTOCOLS.index(r.report["protocol"]), r.height or 0))


@dataclass
class OursAgainstIntel:
    """Our INT8 against Intel's release under one protocol: the paired differences of AP and of
    agreement with the reference (the same image resamples for both networks)."""

    protocol: str  # a protocol key
    ap: dict[str, Any]
    agreement: dict[str, Any] | None


def measure_differences(rows: list[Row], resamples: int = RESAMPLES) -> list[OursAgainstIntel]:
    """Each row's paired difference to the reference artifact under its protocol (the same resamples),
    each native row's to the same run at the default height, and each row's agreement with the
    reference; our INT8 against Intel's, on both measures."""
    scorer = ReportScorer()
    matches = {(row.name, row.protocol): row.matches for row in rows}
    for row in rows:
        reference = matches.get((REFERENCE, row.protocol))
        own = matches[(row.name, row.protocol)]
        if reference is not None and row.name != REFERENCE and reference.people:
            row.difference = paired_difference(reference, own, resamples, SEED).to_dict()
        default = matches.get((row.name, "native"))
        if row.height not in (None, DEFAULT_HEIGHT) and default is not None and default.people:
            row.height_difference = paired_difference(default, own, resamples, SEED).to_dict()
    tables = {t["protocol"]: t for t in report_tables([(r.name, r.protocol, r.path) for r in rows], resamples, SEED,
                                                      scorer)}  # fmt: skip
    for row in rows:
        row.agreement = tables.get(row.protocol, {}).get("runs", {}).get(row.name)
    versus = []
    for key in dict.fromkeys(row.protocol for row in rows):
        ours, intel = matches.get((OURS_INT8, key)), matches.get((INTEL_INT8, key))
        if ours is not None and intel is not None and ours.people:
            agreement = tables.get(key, {}).get("differences", {}).get(f"{OURS_INT8} - {INTEL_INT8}")
            versus.append(OursAgainstIntel(key, paired_difference(intel, ours, resamples, SEED).to_dict(), agreement))
    return versus


def resolution(rows: list[Row], protocol: str) -> float | None:
    """Half the median width of the paired intervals: about the smallest change this set resolves.
    Exact conversions (the same poses as the reference: a zero-width interval) say nothing of it."""
    widths = sorted(width for r in rows if r.difference and r.protocol == protocol
                    and (width := r.difference["high"] - r.difference["low"]) > 0)  # fmt: skip
    return widths[len(widths) // 2] / 2 if widths else None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ap(report: dict[str, Any]) -> str:
    interval = report["interval"]
    return f"{report['ap']:.3f}" + (f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else "")


def _difference(row: Row) -> str:
    if row.difference is None:
        return "reference" if row.name == REFERENCE else "-"
    return _paired(row.difference)


def _paired(d: dict[str, Any]) -> str:
    return f"{d['ap']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" + (" *" if significant(d) else "")


def _agreement(row: Row) -> str:
    a = row.agreement
    if a is None:
        return "reference" if row.name == REFERENCE else "-"
    return f"{a['ap']:.3f} [{a['low']:.3f}, {a['high']:.3f}]"


def versus_lines(versus: list[OursAgainstIntel]) -> list[str]:
    """The paired ours - Intel's line of each protocol: agreement beside AP."""
    lines = []
    for v in versus:
        agreement = f"agreement {_paired(v.agreement)}, " if v.agreement else ""
        lines.append(f"- **{OURS_INT8} - {INTEL_INT8}** (ours - Intel's release), {v.protocol} protocol, paired: "
                     f"{agreement}AP {_paired(v.ap)}")  # fmt: skip
    return lines


def markdown(rows: list[Row], model: str, bench: dict[str, Any] | None = None,
             tiers: dict[str, Any] | None = None, fleet: dict[str, Any] | None = None,
             versus: list[OursAgainstIntel] | None = None) -> str:  # fmt: skip
    first = rows[0].report
    dataset = first["dataset"]
    hints = sorted({str(r.report["precision_hint"]) for r in rows})
    classes = sorted({r.report["machine"]["class"] for r in rows})
    interval = next((r.report["interval"] for r in rows if r.report["interval"]), None)
    resamples = f"{interval['resamples']} image resamples, seed {interval['seed']}" if interval else "no people"
    lines = [
        f"# {model}: accuracy and speed of every artifact",
        "",
        f"COCO keypoint AP (pycocotools) on **{dataset['name']}: {plural(first['images'], 'image')}, "
        f"{plural(dataset['people'], 'annotated person', 'annotated people')}** (`{dataset['annotations']}`), with 95% "
        f"bootstrap intervals ({resamples}).",
        f"Accuracy measured on machine class {', '.join(classes)} ({first['machine']['cpu']}); OpenVINO precision "
        f"hint {', '.join(hints)}; OpenVINO {first['versions'].get('openvino', '?')}, torch "
        f"{first['versions'].get('torch', '?')}, onnxruntime {first['versions'].get('onnxruntime', '?')}. INT8 and "
        "bf16 AP follow the machine class's kernels; FP32 and FP16 run with f32 do not.",
        "",
        f"| artifact | protocol | AP [95% interval] | AP - {REFERENCE} [paired 95%] | agreement with {REFERENCE} "
        "[95%] | AP50 | AR | size MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        r = row.report
        lines.append(
            f"| {row.name} | {row.protocol} | {_ap(r)} | {_difference(row)} | {_agreement(row)} | {r['ap50']:.3f} | "
            f"{r['ar']:.3f} | {r['size_mb']:.1f} |"
        )
    if versus:
        lines += ["", *versus_lines(versus)]
    lines += ["", *legend(rows, dataset["people"])]
    lines += ["", *height_section(rows, bench)]
    lines += ["", *speed_section(bench)]
    if tiers:
        lines += ["", *tier_section(tiers)]
    if fleet:
        lines += ["", *fleet_lines(fleet)]
    notes = sorted({f"{row.name}: {note}" for row in rows for note in row.report.get("notes", [])})
    skipped = [f"{row.name} {row.protocol}: {plural(len(row.report['skipped_images']), 'bad image')} skipped"
               for row in rows if row.report["skipped_images"]]  # fmt: skip
    if notes or skipped:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes + skipped]
    lines += ["", "![AP with intervals, agreement and speed](report.png)", "",
              f"*AP of every artifact and protocol with its 95% interval, its agreement with {REFERENCE}, and each "
              "run's throughput from the interleaved bench.*", "", "![decoded skeletons](report-example.png)", "",
              f"*The {REFERENCE} network's people on the set's most crowded image (val protocol), drawn by "
              "poseforge's decoder.*"]  # fmt: skip
    return "\n".join([*lines, "", MARKDOWN_MARK, ""])


def height_rows(rows: list[Row]) -> dict[str, list[Row]]:
    """The native rows of each run measured at more than one input height (f32 runs), by height."""
    native: dict[str, list[Row]] = {}
    for row in rows:
        if row.height is not None and row.name == row.report["artifact"]:
            native.setdefault(row.name, []).append(row)
    return {name: sorted(found, key=lambda r: r.height or 0) for name, found in native.items() if len(found) > 1}


def height_section(rows: list[Row], bench: dict[str, Any] | None) -> list[str]:
    """The input height a user picks (PoseEstimator's `input_height`, predict's `--height`): AP and
    speed per height, for each run validated at several."""
    table = height_rows(rows)
    if not table:
        return ["## Input height", "", "No run was validated at several native input heights (`make validate` "
                "validates ir-fp32 and ir-int8 at HEIGHTS)."]  # fmt: skip
    heights = (bench or {}).get("heights") or {"runs": {}}
    measured = heights["runs"]
    if measured and bench:
        frame = heights["frame"]
        where = (f"the network alone at each height's native shape of a {frame[1]}x{frame[0]} frame, from "
                 f"bench.json's interleaved run (THROUGHPUT hint, precision hint f32, "
                 f"{plural(bench['threads'], 'thread')}, machine class {bench['machine']['class']}); its ratio to "
                 f"height {DEFAULT_HEIGHT} is taken within each round, then the median")  # fmt: skip
    else:
        where = "not measured (bench.json has no heights: run `make bench`)"
    lines = [
        "## Input height: accuracy against speed",
        "",
        "The native protocol (the image's own aspect, its width rounded up to a multiple of 8) at each input height "
        f"a bundle can run at (`PoseEstimator(..., input_height=H)`, `poseforge predict --height H`; default "
        f"{DEFAULT_HEIGHT}): AP on the same images with its 95% interval, its paired difference to height "
        f"{DEFAULT_HEIGHT}, and speed: {where}. The val protocol's height 368 is not native@368: val resizes "
        "bicubically and pads to at least 368 wide, as upstream's evaluation does.",
        "",
        f"| run | input height | input of a 640x480 frame | AP [95% interval] | AP - height {DEFAULT_HEIGHT} "
        f"[paired 95%] | throughput fps | fps / height {DEFAULT_HEIGHT} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, found in table.items():
        for row in found:
            speed = measured.get(name, {}).get(str(row.height))
            if row.height == DEFAULT_HEIGHT:
                gap = "reference"
            else:
                gap = _paired(row.height_difference) if row.height_difference else "-"
            figures = (
                [f"{speed['shape'][2]}x{speed['shape'][3]}", f"{speed['throughput_fps']:.1f}",
                 f"{speed['throughput_over_default']:.3f}"] if speed else ["-", "-", "-"]
            )  # fmt: skip
            lines.append(f"| {name} | {row.height} | {figures[0]} | {_ap(row.report)} | {gap} | {figures[1]} | "
                         f"{figures[2]} |")  # fmt: skip
    return lines


def speed_section(bench: dict[str, Any] | None) -> list[str]:
    """Every speed figure of the report, from the bench's one interleaved run."""
    from poseforge.validate.speed.bench import judge, measured_text, recommendation_line
    from poseforge.validate.speed.host import host_warning

    if bench is None:
        return ["## Speed", "", "No bench.json: `make bench` measures every artifact's speed in one interleaved run."]
    machine, host, shape = bench["machine"], bench["host"], bench["shape"]
    share = host["other_cpu_share"]
    lines = [
        "## Speed",
        "",
        f"One interleaved run (`bench.json`): {bench['rounds']} rounds, each measuring every run back to back at "
        f"{shape[2]}x{shape[3]}, on machine class **{machine['class']}** ({machine['cpu']}, "
        f"{plural(machine['cores'] or 1, 'core')}). Throughput is the median over rounds; its ratio to {REFERENCE} "
        "is taken within each round, then the median (the figure bench.json's ratios are). Host during the run: "
        + (f"other processes took {share:.0%} of its CPU time, " if share is not None else "")
        + f"1-min load average {', '.join(str(s[0]) for s in host['load_average'])}.",
    ]
    if warning := host_warning(host, machine["cores"]):
        lines += ["", f"> **Warning:** {warning}."]
    lines += ["", *speed_table(bench["speed"])]
    lines += ["", "| target | measured | wanted | holds |", "|---|---:|---:|---|"]
    for target, value, holds in judge(bench):
        lines.append(f"| {target.meaning} | {measured_text(bench, target, value)} | {target.wanted} | "
                     f"{'yes' if holds else 'NO'} |")  # fmt: skip
    lines += ["", recommendation_line(bench.get("recommendation"), machine["class"]) + "."]
    return lines


def tier_section(tiers: dict[str, Any]) -> list[str]:
    """`poseforge bench --tiers`: one table per ISA tier this machine stood in for."""
    dataset = tiers.get("dataset")
    validated = (
        f"INT8 (and bf16) validated under each tier on {dataset['name']} "
        f"({plural(dataset['people'], 'person', 'people')}), val protocol"
        if dataset
        else "speed only (measured with --no-validate: no AP under the tiers)"
    )
    lines = [
        "## ISA tiers",
        "",
        f"`bench-tiers.json`: every IR measured under each tier this {tiers['machine']['class']} machine can stand "
        f"in for, each tier in its own process, in {tiers['rounds']} interleaved rounds; {validated}. An emulated "
        "tier caps oneDNN's kernels with ONEDNN_MAX_CPU_ISA: OpenVINO's own JIT kernels keep the full ISA, so it "
        "stands in for a machine of that tier without being one.",
    ]
    for tier, entry in tiers["tiers"].items():
        lines += ["", f"### {tier}" + (" (emulated)" if entry["emulated"] else " (this machine's own tier)"), ""]
        lines += ["| run | val AP [95% interval] | throughput fps | throughput / ir-fp32 |", "|---|---:|---:|---:|"]
        for name, run in entry["speed"].items():
            acc = entry["accuracy"].get(name)
            ap = (
                "-"
                if acc is None
                else f"{acc['ap']:.4f}"
                + (f" [{acc['interval']['low']:.3f}, {acc['interval']['high']:.3f}]" if acc["interval"] else "")
            )
            over = run.get("throughput_over_fp32")
            lines.append(f"| {name} | {ap} | {run['throughput_fps']:.1f} | {'-' if over is None else f'{over:.3f}'} |")
        for label, diff in entry["differences"].items():
            mark = " *" if diff["low"] > 0 or diff["high"] < 0 else ""
            lines.append(f"\n{label}: {diff['ap']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}] (paired){mark}")
        lines += ["", ratio_sentence(entry)]
    return lines


def reference_people(rows: list[Row]) -> str:
    """The reference people the agreements count, per protocol."""
    people = {row.protocol: row.agreement["people"] for row in rows if row.agreement}
    return ", ".join(f"{count} ({protocol})" for protocol, count in people.items())


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
        f"deploy height ({DEFAULT_HEIGHT}), padded to a multiple of 8; `native@H` = the same at input height H.",
        f"- Agreement with {REFERENCE}: the run's poses scored by pycocotools' keypoint OKS-AP against {REFERENCE}'s "
        f"own poses under the same protocol, on the same images (1 for {REFERENCE} itself). Ground truth: "
        f"{RULE.split(';')[0]}"
        + (f"; {agreed} reference people here" if (agreed := reference_people(rows)) else "")
        + ". It needs no label and measures only how far a run's poses move from FP32's, so it resolves far smaller "
        "differences than AP (its intervals resample the images as AP's do); it ranks closeness to FP32, not "
        "accuracy. A difference marked * excludes 0.",
        "- Speed (below): latency is the LATENCY hint, one request, after warm-up; throughput the THROUGHPUT hint "
        "with an async queue (torch and onnxruntime: one request after another). Every speed figure comes from "
        "the same interleaved run on one machine: compare them as ratios.",
    ]


def plot(rows: list[Row], path: Path, model: str, bench: dict[str, Any] | None = None) -> None:
    """AP with its interval as an error bar per artifact and protocol (one row each, so no label
    overlaps another), its agreement with the reference likewise, beside each run's network throughput
    from the bench's interleaved run, and below them the input heights' curve (height_curve); written
    to `path` as it is (write_report renames it into place with the others)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = (bench or {}).get("speed", {})
    names = list(dict.fromkeys([row.name for row in rows] + [n for n in speed if n not in {r.name for r in rows}]))
    heights = height_rows(rows)
    top = 1.8 + 0.5 * len(names)
    fig = plt.figure(figsize=(13, top + (4.2 if heights else 0)), dpi=120)
    grid = fig.add_gridspec(2 if heights else 1, 3, width_ratios=[3, 2, 2],
                            height_ratios=[top, 3.6] if heights else [1])  # fmt: skip
    ax_ap = fig.add_subplot(grid[0, 0])
    ax_agree = fig.add_subplot(grid[0, 1], sharey=ax_ap)
    ax_fps = fig.add_subplot(grid[0, 2], sharey=ax_ap)
    markers = {"val": "o", "deploy": "s", "native": "^"}
    for k, protocol in enumerate(PROTOCOLS):
        chosen = [row for row in rows if row.protocol == protocol]
        for row in chosen:
            y = names.index(row.name) + (k - 1) * 0.25
            interval = row.report["interval"] or {"low": row.report["ap"], "high": row.report["ap"]}
            # A percentile interval need not hold its estimate: a bar never reaches past it.
            err = [[max(row.report["ap"] - interval["low"], 0.0)], [max(interval["high"] - row.report["ap"], 0.0)]]
            ax_ap.errorbar(row.report["ap"], y, xerr=err, fmt=markers[protocol], color=f"C{k}", capsize=3,
                           label=f"{protocol} protocol" if row is chosen[0] else None)  # fmt: skip
            if (a := row.agreement) is not None and row.height in (None, DEFAULT_HEIGHT):
                spread = [[max(a["ap"] - a["low"], 0.0)], [max(a["high"] - a["ap"], 0.0)]]
                ax_agree.errorbar(a["ap"], y, xerr=spread, fmt=markers[protocol], color=f"C{k}", capsize=3)
    fps = {name: run["throughput_fps"] for name, run in speed.items()}
    ax_fps.barh([names.index(n) for n in fps], list(fps.values()), color="C3")
    for name, value in fps.items():
        ax_fps.annotate(f"{value:.1f}", (value, names.index(name)), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)  # fmt: skip
    dataset = rows[0].report["dataset"]
    ax_ap.set_yticks(range(len(names)), names)
    ax_ap.invert_yaxis()
    ax_ap.set_xlabel(f"COCO keypoint AP, 95% interval ({dataset['name']}, {dataset['people']} people)")
    ax_ap.grid(axis="x", alpha=0.3)
    # Below the axes, not over them: a legend inside covers the first rows' intervals.
    ax_ap.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.6 / len(names)), ncol=len(PROTOCOLS), fontsize=8)
    ax_agree.set_xlabel(f"agreement with {REFERENCE}, 95% interval\n(OKS-AP against its poses; 1 = the same)")
    ax_agree.grid(axis="x", alpha=0.3)
    if bench is not None:
        ax_fps.set_xlabel(f"throughput at {bench['shape'][2]}x{bench['shape'][3]}, fps\n(one interleaved run, "
                          f"{bench['machine']['class']})")  # fmt: skip
    else:
        ax_fps.set_xlabel("throughput: no bench.json")
    ax_fps.grid(axis="x", alpha=0.3)
    if heights:
        height_curve(fig.add_subplot(grid[1, :]), heights, bench)
    fig.suptitle(f"{model}: accuracy and speed of every artifact")
    fig.tight_layout()
    try:
        fig.savefig(path, metadata=PNG_MARK, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)


def height_curve(ax: Any, heights: dict[str, list[Row]], bench: dict[str, Any] | None) -> None:
    """AP (with its interval) against throughput at each native input height, a line per run and each
    point labelled with its height: the curve a user picks a height from. Without the bench's heights,
    against the height itself."""
    measured = ((bench or {}).get("heights") or {}).get("runs", {})
    for k, (name, found) in enumerate(heights.items()):
        points = []
        for row in found:
            speed = measured.get(name, {}).get(str(row.height))
            if measured and speed is None:
                continue
            x = speed["throughput_fps"] if speed else row.height
            interval = row.report["interval"] or {"low": row.report["ap"], "high": row.report["ap"]}
            points.append((x, row.report["ap"], interval, row.height))
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        err = [[max(p[1] - p[2]["low"], 0.0) for p in points], [max(p[2]["high"] - p[1], 0.0) for p in points]]
        ax.errorbar(xs, ys, yerr=err, fmt="-o", color=f"C{k}", capsize=3, label=name)
        for x, y, _, height in points:
            ax.annotate(f"height {height}", (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8)
    if measured:
        frame = bench["heights"]["frame"]
        ax.set_xlabel(f"throughput at the native shape of a {frame[1]}x{frame[0]} frame, fps (one interleaved run, "
                      f"{bench['machine']['class']}, f32)")  # fmt: skip
    else:
        ax.set_xlabel("native input height (no bench.json heights: speed not measured)")
    ax.set_ylabel("AP, 95% interval")
    ax.set_title("native protocol: input height, accuracy against speed", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def example_source(rows: list[Row]) -> Row:
    """The run the example is drawn by: the IR FP32 (or the first artifact), refused unless its
    artifact file is the one its report measured (its sha256), as the caption names that run."""
    source = next((row for row in rows if row.report["artifact"] == REFERENCE), rows[0])
    artifact = source.report["artifact_file"]
    if artifact_digest(artifact) != source.report["artifact_sha256"]:
        raise PoseforgeError(f"{artifact} is not the artifact {source.path} was measured on (sha256 differs): "
                             f"the example would not be drawn by the {source.name} it names")  # fmt: skip
    return source


def example_image(source: Row, coco_dir: str | Path, path: Path) -> None:
    """The COCO image with the most annotated people, decoded by `source`'s artifact (example_source),
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
    runner = open_runner(source.report["artifact_file"])
    pixels = read_image(dataset.images_dir / dataset.coco.imgs[image_id]["file_name"])
    prepared = prepare(pixels, "val")
    heatmaps, pafs = runner.run(to_nchw(prepared.image))
    poses = decode(heatmaps[0], pafs[0], prepared.geometry)
    found, annotated = plural(len(poses.scores), "person", "people"), plural(counts[image_id], "person", "people")
    caption = (
        f"{source.report['artifact']}, val protocol: {found} found in COCO image {image_id} ({annotated} annotated)"
    )
    drawing = captioned(draw_poses(pixels, poses), caption)
    ok, encoded = cv2.imencode(".png", drawing)
    if not ok:
        raise PoseforgeError(f"cannot encode {path} as PNG")
    Path(path).write_bytes(png_with_text(encoded.tobytes(), PNG_MARK))


def captioned(image: Any, text: str) -> Any:
    """`image` with a white band below it holding `text`: the drawing says what it shows."""
    import cv2
    import numpy as np

    scale = max(0.4, image.shape[1] / 1400)
    (_, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = np.full((height + base + 16, image.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(band, text, (8, height + 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([image, band])


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
    source = example_source(rows) if coco_dir else None  # refused before the measuring
    versus = measure_differences(rows)
    bench = read_bench(model_dir)
    if bench is not None and (stale := stale_bench(model_dir, bench)):
        raise PoseforgeError(f"{model_dir / 'bench.json'} is {stale[0].removeprefix('stale: ')}")
    tiers = read_tiers(model_dir)
    model = rows[0].report["model"]
    with atomic_outputs(*targets[1:], targets[0]) as (*images, text):
        plot(rows, images[0], model, bench)
        if source is not None and coco_dir:
            example_image(source, coco_dir, images[1])
        text.write_text(markdown(rows, model, bench, tiers, read_fleet(model_dir), versus))
    return targets

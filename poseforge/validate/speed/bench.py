"""`poseforge bench`: the speed targets, as ratios measured in one run on one machine.

1. The IR FP32's outputs for every image, under both protocols, computed once.
2. Those same outputs decoded by poseforge's decoder and by the upstream procedure
   (`reference_decoder`): time per image, and the AP each gets.
3. The IR FP32's network latency and throughput, and end-to-end fps, at the deploy shape.
4. Every artifact in the model folder (and the FP32 IR under bf16 where the CPU runs it natively)
   measured in interleaved rounds, each ratio taken within a round, then the median, so that a
   load that comes and goes cannot favour one of them: INT8 against the FP32 IR and against
   Intel's INT8 release among them. These are the speed figures report.md shows.
5. The heights table's speed: each IR validated under the native protocol at several input heights
   (reports/<artifact>-native@<height>.json) timed at each height's native shape of a 640x480 frame,
   in the same interleaved rounds, each height's throughput over the default height's within a round.
6. What the host was doing meanwhile (other processes' CPU share, load average), and which run
   to deploy on this machine class (the fastest within its AP tolerance of FP32).
The ratios are judged against validate.speed.targets and written to `bench.json` with the machine
class, which the gate reads.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

from poseforge.artifacts import (
    BY_NAME,
    DEFAULT_HEIGHT,
    HEIGHT_TABLE_FRAME,
    REFERENCE,
    VARIANT_HINTS,
    artifact_digest,
    base_name,
    deployable,
    machine_dependent,
    order,
    runs,
    split_protocol_key,
)
from poseforge.decode import decode, to_coco_results
from poseforge.documents import BENCH, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim
from poseforge.images import read_image
from poseforge.machine import machine_info, supports_precision
from poseforge.metadata import toolchain_versions
from poseforge.preprocess import native_width, prepare, to_nchw
from poseforge.reference_decoder import reference_decode
from poseforge.runtime import artifact_metadata, open_runner
from poseforge.runtime.options import ACCURACY
from poseforge.text import plural
from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.scoring import coco_keypoint_metrics
from poseforge.validate.accuracy.validate import read_report
from poseforge.validate.speed.host import HostWatch, host_warning
from poseforge.validate.speed.interleaved import (
    THROUGHPUT_PAIRS,
    Entry,
    measure_interleaved,
    medians,
    ratios_by_round,
    round_ratios,
    spread,
)
from poseforge.validate.speed.network import measure_speed, summarize_ms
from poseforge.validate.speed.targets import BY_NAME as TARGETS_BY_NAME
from poseforge.validate.speed.targets import FIGURE_RATIOS, TARGETS, Target

SCHEMA = BENCH.schema
DECODER_PROTOCOLS = ("val", "deploy")  # the decoder's targets are set under these


def network_outputs(artifact: Path, images: list, protocol: str, deploy_shape: tuple[int, int]) -> list[tuple]:
    """(image id, geometry, heatmaps, pafs) for every image, from one runner."""
    shape = (1, 3, *deploy_shape) if protocol == "deploy" else None
    runner = open_runner(artifact, ACCURACY.replace(shape=shape))
    outputs = []
    for image in images:
        prepared = prepare(read_image(image.path), protocol, deploy_shape)
        heatmaps, pafs = runner.run(to_nchw(prepared.image))
        outputs.append((image.id, prepared.geometry, heatmaps[0], pafs[0]))
    return outputs


def time_decoder(decoder: Any, outputs: list[tuple], repeats: int = 3) -> tuple[dict[str, float], list[dict]]:
    """Per-image decode time (best of `repeats` per image, to shed scheduler noise) and results."""
    times, results = [], []
    for image_id, geometry, heatmaps, pafs in outputs:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            poses = decoder(heatmaps, pafs, geometry)
            best = min(best, (time.perf_counter() - start) * 1e3)
        times.append(best)
        results.extend(to_coco_results(poses, image_id))
    return summarize_ms(times), results


def bench_entries(model_dir: Path, model: str, variant_hints: tuple[str, ...]) -> dict[str, Entry]:
    """An interleaved entry for every run of the artifacts present in `model_dir`, in report order."""
    return {
        name: Entry(name, model_dir / known.file, precision_hint=hint)
        for name, known, hint in runs(model, variant_hints)
        if (model_dir / known.file).is_file()
    }


def validated_heights(model_dir: Path) -> dict[str, list[int]]:
    """The native input heights each artifact in `model_dir` was validated at (f32), from its report
    files' names, when there is one besides the default height: {artifact: [256, 320, 368]}."""
    heights: dict[str, set[int]] = {}
    for path in (model_dir / "reports").glob("*-native*.json"):
        name, _, key = path.stem.rpartition("-")
        if name in BY_NAME and key.startswith("native") and (model_dir / BY_NAME[name].file).is_file():
            heights.setdefault(name, {DEFAULT_HEIGHT}).add(split_protocol_key(key)[1])
    return {name: sorted(heights[name]) for name in sorted(heights, key=order) if len(heights[name]) > 1}


def height_entries(model_dir: Path, heights: dict[str, list[int]]) -> dict[tuple[str, int], Entry]:
    """An interleaved entry per artifact and height, at that height's native shape of HEIGHT_TABLE_FRAME."""
    return {
        (name, height): Entry(f"{name} native@{height}", model_dir / BY_NAME[name].file,
                              shape=(1, 3, height, native_width(HEIGHT_TABLE_FRAME, height)))
        for name, found in heights.items() for height in found
    }  # fmt: skip


def height_speed(entries: dict[tuple[str, int], Entry]) -> dict[str, Any]:
    """bench.json's `heights`: each artifact's figures per height, and each height's throughput over the
    default height's, taken within each round, then the median."""
    out: dict[str, dict[str, Any]] = {}
    for (name, height), entry in entries.items():
        by_round = [run["throughput_fps"] for run in entry.runs]
        best = entry.best()
        out.setdefault(name, {})[str(height)] = {
            "shape": list(entry.shape),
            "latency_ms": {"median": best["latency_ms"], "p90": best["latency_p90_ms"]},
            "throughput_fps": statistics.median(by_round),
            "throughput_fps_by_round": by_round,
            "throughput_over_default": statistics.median(round_ratios(entries[(name, DEFAULT_HEIGHT)], entry,
                                                                      "throughput")),
        }  # fmt: skip
    return {"frame": list(HEIGHT_TABLE_FRAME), "default_height": DEFAULT_HEIGHT, "runs": out}


def interleaved_speed(entries: dict[str, Entry], shape: tuple[int, int, int, int], seconds: float, rounds: int,
                      watch: HostWatch | None = None, extra: list[Entry] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every entry measured in interleaved rounds (with `extra` entries of their own shapes): each run's
    figures, and its throughput over the FP32 IR's taken within each round, then the median (the same
    figure the INT8 ratios are)."""
    measure_interleaved([*entries.values(), *(extra or [])], shape, iterations=10, seconds=seconds, rounds=rounds,
                        watch=watch)  # fmt: skip
    reference = entries.get(REFERENCE)
    speed = {}
    for name, entry in entries.items():
        by_round = [run["throughput_fps"] for run in entry.runs]
        best = entry.best()
        speed[name] = {
            "latency_ms": {"median": best["latency_ms"], "p90": best["latency_p90_ms"]},
            "throughput_fps": statistics.median(by_round),
            "throughput_fps_by_round": by_round,
            "precision_hint": entry.precision_hint,
            "threads": best["throughput_settings"].get("threads"),
            "streams": best["throughput_settings"].get("streams"),
        }
        if reference is not None:
            speed[name]["throughput_over_fp32"] = statistics.median(round_ratios(reference, entry, "throughput"))
    return speed


def int8_ratios(speed: dict[str, Any]) -> dict[str, float]:
    """INT8 / FP32 and INT8 / Intel's release throughput (the interleaved ratios with targets): each
    the median of its per-round ratios."""
    return medians(ratios_by_round(speed, [name for name in THROUGHPUT_PAIRS if name in TARGETS_BY_NAME]))


def measure_bench(
    model_dir: str | Path, coco: str | Path, limit: int | None = None, seconds: float = 10.0, rounds: int = 3
) -> dict[str, Any]:
    """Every figure bench reports, measured in this one run; the ratios the targets judge among them."""
    model_dir = Path(model_dir)
    artifact = model_dir / "ir" / "fp32" / "model.xml"
    if not artifact.is_file():
        raise PoseforgeError(f"bench needs the IR FP32 {artifact}: run `make ir-fp32` first")
    machine = machine_info()
    watch = HostWatch()
    dataset = CocoKeypoints(coco)
    images = dataset.images(limit)
    meta = artifact_metadata(artifact)  # read, not compiled: the measurements compile their own
    deploy_shape = tuple(meta["input"]["deploy_shape"])
    figures: dict[str, Any] = {}
    for protocol in DECODER_PROTOCOLS:
        outputs = network_outputs(artifact, images, protocol, deploy_shape)
        ours, our_results = time_decoder(decode, outputs)
        ref, ref_results = time_decoder(reference_decode, outputs, repeats=1)
        ids = [o[0] for o in outputs]
        figures[protocol] = {
            "ours_ms": ours,
            "reference_ms": ref,
            "speedup": ref["median"] / ours["median"],
            "ap_ours": coco_keypoint_metrics(dataset.coco, our_results, ids)["ap"],
            "ap_reference": coco_keypoint_metrics(dataset.coco, ref_results, ids)["ap"],
        }
    speed = measure_speed(artifact, images, deploy_shape, ACCURACY, seconds=seconds)
    figures["network"] = speed
    hints = tuple(hint for hint in VARIANT_HINTS if supports_precision(hint))
    entries = bench_entries(model_dir, meta["model"], hints)
    by_height = height_entries(model_dir, validated_heights(model_dir))
    runs_speed = interleaved_speed(entries, (1, 3, *deploy_shape), seconds / 2, rounds, watch, list(by_height.values()))
    ratios = {**{name: derive(figures) for name, derive in FIGURE_RATIOS.items()}, **int8_ratios(runs_speed)}
    bench = {
        "schema": SCHEMA,
        "model": meta["model"],
        "artifacts": {name: artifact_digest(entry.path) for name, entry in entries.items()},
        "images": len(images),
        "dataset": dataset.provenance([image.id for image in images], limit),
        "ratios": ratios,
        "speed": runs_speed,
        "heights": height_speed(by_height),
        "shape": [1, 3, *deploy_shape],
        "rounds": rounds,
        "figures": figures,
        "precision_hint": "f32",
        "threads": speed["throughput_settings"]["threads"],
        "host": watch.result(int(machine["cores"] or 1)),
        "machine": machine,
        "versions": toolchain_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    bench["recommendation"] = recommend(model_dir, bench)
    return bench


def recommend(model_dir: Path, bench: dict[str, Any]) -> dict[str, Any] | None:
    """What to deploy on this machine class: the fastest bundle-able run (artifact and precision hint)
    whose val AP, validated on this class, is within its gate tolerance of the FP32 IR's with f32."""
    aps = {}
    for name in bench["speed"]:
        path = model_dir / "reports" / f"{name}-val.json"
        if not path.is_file():
            continue
        report = read_report(path)
        if machine_dependent(name) and report["machine"]["class"] != bench["machine"]["class"]:
            continue  # its AP follows the kernels of another class
        if report["artifact_sha256"] == bench["artifacts"][name]:
            aps[name] = report
    fps = {name: row["throughput_fps"] for name, row in bench["speed"].items()}
    name = deployable(fps, {run: report["ap"] for run, report in aps.items()})
    if name is None:
        return None
    report = aps[name]
    return {
        "class": bench["machine"]["class"],
        "run": name,
        "artifact": base_name(name),
        "precision_hint": bench["speed"][name]["precision_hint"],
        "ap": report["ap"],
        "interval": report["interval"],
        "dataset": report["dataset"]["name"],
        "people": report["dataset"]["people"],
        "throughput_fps": fps[name],
        "rule": f"the fastest run whose val AP is within its gate tolerance of {REFERENCE} (f32) on this class",
    }


def recommendation_line(rec: dict[str, Any] | None, machine_class: str) -> str:
    if rec is None:
        return f"deploy on {machine_class}: no validated val AP of {REFERENCE} here: run `make validate` first"
    interval = rec["interval"]
    bounds = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
    return (f"deploy on {rec['class']}: {rec['artifact']} with precision hint {rec['precision_hint']}: val AP "
            f"{rec['ap']:.3f}{bounds} ({rec['dataset']}, {plural(rec['people'], 'person', 'people')}), "
            f"{rec['throughput_fps']:.1f} fps")  # fmt: skip


def judge(bench: dict[str, Any]) -> list[tuple[Target, float, bool]]:
    """Each measured ratio against its target (validate.speed.targets), judged as printed."""
    return [
        (t, bench["ratios"][t.name], t.holds(bench["ratios"][t.name])) for t in TARGETS if t.name in bench["ratios"]
    ]


def measured_text(bench: dict[str, Any], target: Target, value: float) -> str:
    """A target's figure as bench's table and report.md print it; an interleaved ratio with its
    range over the rounds."""
    by_round = ratios_by_round(bench["speed"], [target.name]) if target.name in THROUGHPUT_PAIRS else {}
    return target.shown(value) + spread(by_round.get(target.name), target.digits)


def render_bench(bench: dict[str, Any], verdicts: list[tuple[Target, float, bool]]) -> None:
    from rich.table import Table

    from poseforge.ui import console

    figures, speed = bench["figures"], bench["figures"]["network"]
    machine = bench["machine"]
    table = Table(title=f"bench on {machine['class']} ({machine['cpu']}): {plural(bench['images'], 'image')} of "
                        f"{bench['dataset']['name']}, IR FP32 outputs, precision hint f32 unless named, "
                        f"{plural(bench['threads'], 'thread')}")  # fmt: skip
    for column in ("figure", "measured", "target", "holds"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for protocol in DECODER_PROTOCOLS:
        f = figures[protocol]
        table.add_row(
            f"{protocol}: decode median / p90, ms", f"{f['ours_ms']['median']:.2f} / {f['ours_ms']['p90']:.2f}"
        )
        table.add_row(f"{protocol}: upstream procedure median / p90, ms",
                      f"{f['reference_ms']['median']:.1f} / {f['reference_ms']['p90']:.1f}")  # fmt: skip
        table.add_row(f"{protocol}: AP ours / upstream procedure (same outputs)",
                      f"{f['ap_ours']:.3f} / {f['ap_reference']:.3f}", "ours >= upstream",
                      "yes" if f["ap_ours"] >= f["ap_reference"] else "NO")  # fmt: skip
    table.add_row("deploy: network latency median, ms", f"{speed['latency_ms']['median']:.1f}")
    table.add_row("network throughput, fps", f"{speed['throughput_fps']:.1f}")
    table.add_row("end-to-end, fps", f"{speed['e2e_fps']:.1f}")
    for name, run in bench["speed"].items():
        over = run.get("throughput_over_fp32")
        table.add_row(f"{name} ({run['precision_hint']}): throughput fps, median of {bench['rounds']} interleaved "
                      "rounds" + (" (x FP32)" if over else ""),
                      f"{run['throughput_fps']:.1f}" + (f" ({over:.3f}x)" if over else ""))  # fmt: skip
    heights = bench.get("heights") or {"runs": {}}
    for name, rows in heights["runs"].items():
        for height, run in rows.items():
            table.add_row(f"{name} native at height {height} ({run['shape'][2]}x{run['shape'][3]}, a "
                          f"{heights['frame'][1]}x{heights['frame'][0]} frame): throughput fps (x height "
                          f"{heights['default_height']})", f"{run['throughput_fps']:.1f} "
                          f"({run['throughput_over_default']:.3f}x)")  # fmt: skip
    for target, value, holds in verdicts:
        table.add_row(target.meaning, measured_text(bench, target, value), target.wanted, "yes" if holds else "NO")
    out = console()
    out.print(table)
    if warning := host_warning(bench["host"], bench["machine"]["cores"]):
        out.print(f"[yellow]warning: {warning}[/]")
    out.print(recommendation_line(bench.get("recommendation"), bench["machine"]["class"]))


def run_bench(
    model_dir: str | Path,
    coco: str | Path,
    limit: int | None = None,
    seconds: float = 10.0,
    rounds: int = 3,
    output: str | Path | None = None,
) -> dict[str, Any]:
    """Measure, judge against the targets, render the table; write bench.json for the gate."""
    if output is not None:  # refused now, not after minutes of measuring
        if (Path(model_dir) / "ir").resolve() in Path(output).resolve().parents:
            raise PoseforgeError(f"-o {output} is among the IRs bench measures: write it to {model_dir}/bench.json")
        claim(output)
    bench = measure_bench(model_dir, coco, limit, seconds, rounds)
    render_bench(bench, judge(bench))
    if output:
        write_document(output, BENCH, bench)
    return bench

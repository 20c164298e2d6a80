"""`poseforge bench`: the speed targets, as ratios measured in one run on one machine.

1. The IR FP32's outputs for every image, under both protocols, computed once.
2. Those same outputs decoded by poseforge's decoder and by the upstream procedure
   (`reference_decoder`): time per image, and the AP each gets.
3. The IR FP32's network latency and throughput, and end-to-end fps, at the deploy shape.
4. The INT8 IR against the FP32 IR and against Intel's INT8 release, throughput measured in
   interleaved rounds (each ratio taken within a round, then the median), so that a load that
   comes and goes cannot favour one of them.
The ratios are judged against validate.speed.targets and written to `bench.json`, which the
gate reads.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

from poseforge.artifacts import BY_NAME, artifact_digest
from poseforge.decode import decode, to_coco_results
from poseforge.documents import BENCH, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim
from poseforge.images import read_image
from poseforge.machine import machine_info
from poseforge.metadata import toolchain_versions
from poseforge.preprocess import prepare, to_nchw
from poseforge.reference_decoder import reference_decode
from poseforge.runtime import artifact_metadata, open_runner
from poseforge.runtime.options import ACCURACY
from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.scoring import coco_keypoint_metrics
from poseforge.validate.speed.interleaved import Entry, measure_interleaved, round_ratios
from poseforge.validate.speed.network import measure_speed, summarize_ms
from poseforge.validate.speed.targets import TARGETS, Target

SCHEMA = BENCH.schema
INT8_COMPARISON = ("ir-fp32", "ir-int8", "omz-int8")  # measured in interleaved rounds
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


def comparison_artifacts(model_dir: Path) -> dict[str, Path]:
    """The INT8 comparison's artifacts present in `model_dir`, by name."""
    paths = {name: model_dir / BY_NAME[name].file for name in INT8_COMPARISON}
    return {name: path for name, path in paths.items() if path.is_file()}


def interleaved_ratios(model_dir: Path, shape: tuple[int, int, int, int], seconds: float, rounds: int) -> dict:
    """INT8 / FP32 and INT8 / release throughput, each the median of per-round ratios."""
    entries = {name: Entry(name, path) for name, path in comparison_artifacts(model_dir).items()}
    if "ir-int8" not in entries:
        return {}
    context = measure_interleaved(list(entries.values()), shape, iterations=10, seconds=seconds, rounds=rounds)
    ratios = {}
    for name, other in (("int8_over_fp32_throughput", "ir-fp32"), ("int8_over_omz_throughput", "omz-int8")):
        if other in entries:
            ratios[name] = statistics.median(round_ratios(entries[other], entries["ir-int8"], "throughput"))
    throughput = {name: [run["throughput_fps"] for run in entry.runs] for name, entry in entries.items()}
    return {"ratios": ratios, "throughput_fps_by_round": throughput, **context}


def measure_bench(
    model_dir: str | Path, coco: str | Path, limit: int | None = None, seconds: float = 10.0, rounds: int = 3
) -> dict[str, Any]:
    """Every figure bench reports, measured in this one run; the ratios the targets judge among them."""
    model_dir = Path(model_dir)
    artifact = model_dir / "ir" / "fp32" / "model.xml"
    if not artifact.is_file():
        raise PoseforgeError(f"bench needs the IR FP32 {artifact}: run `make ir-fp32` first")
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
    int8 = interleaved_ratios(model_dir, (1, 3, *deploy_shape), seconds / 2, rounds)
    figures["int8"] = int8
    ratios = {
        "decode_over_latency": figures["deploy"]["ours_ms"]["median"] / speed["latency_ms"]["median"],
        "e2e_over_throughput": speed["e2e_fps"] / speed["throughput_fps"],
        "val_decode_ms": figures["val"]["ours_ms"]["median"],
        "val_decode_speedup": figures["val"]["speedup"],
        **int8.get("ratios", {}),
    }
    return {
        "schema": SCHEMA,
        "model": meta["model"],
        "artifacts": measured_artifacts(model_dir),
        "images": len(images),
        "dataset": dataset.provenance([image.id for image in images], limit),
        "ratios": ratios,
        "figures": figures,
        "precision_hint": "f32",
        "threads": speed["throughput_settings"]["threads"],
        "machine": machine_info(),
        "versions": toolchain_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def measured_artifacts(model_dir: Path) -> dict[str, str]:
    """sha256 (every file: .xml and .bin) of each artifact the bench measured, so that the gate
    refuses ratios measured on other versions of them."""
    return {name: artifact_digest(path) for name, path in comparison_artifacts(model_dir).items()}


def judge(bench: dict[str, Any]) -> list[tuple[Target, float, bool]]:
    """Each measured ratio against its target (validate.speed.targets)."""
    return [
        (t, bench["ratios"][t.name], t.holds(bench["ratios"][t.name])) for t in TARGETS if t.name in bench["ratios"]
    ]


def render_bench(bench: dict[str, Any], verdicts: list[tuple[Target, float, bool]]) -> None:
    from rich.table import Table

    from poseforge.ui import console

    figures, speed = bench["figures"], bench["figures"]["network"]
    table = Table(title=f"bench: {bench['images']} images of {bench['dataset']['name']}, IR FP32 outputs, "
                        f"precision hint f32, {bench['threads']} threads, {bench['machine']['cpu']}")  # fmt: skip
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
    for target, value, holds in verdicts:
        table.add_row(target.meaning, f"{value:.3f}", target.wanted, "yes" if holds else "NO")
    console().print(table)


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

"""`poseforge bench`: the speed targets, as ratios measured in one run on one machine.

1. The IR FP32's outputs for every image, under both protocols, computed once.
2. Those same outputs decoded by poseforge's decoder and by the upstream procedure
   (`reference_decoder`): time per image, and the AP each gets.
3. The IR FP32's network latency and throughput, and end-to-end fps, at the deploy shape.
4. The INT8 IR against the FP32 IR and against Intel's INT8 release, throughput measured in
   interleaved rounds (each ratio taken within a round, then the median), so that a load that
   comes and goes cannot favour one of them.
Targets: val decode <= 10 ms and >= 10x faster than the reference; deploy decode <= 10% of
the network latency; end-to-end >= 0.85 x network throughput; INT8 >= 3 x FP32 throughput and
>= 0.95 x the release's. The ratios are written to `bench.json`, which the gate reads.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

from poseforge.decode import decode, to_coco_results
from poseforge.documents import BENCH, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim
from poseforge.images import read_image
from poseforge.metadata import toolchain_versions
from poseforge.preprocess import prepare, to_nchw
from poseforge.runtime import artifact_metadata, open_runner
from poseforge.validate.dataset import CocoKeypoints
from poseforge.validate.machine import machine_info
from poseforge.validate.reference_decoder import reference_decode
from poseforge.validate.scoring import coco_keypoint_metrics
from poseforge.validate.speed import measure_speed, summarize_ms
from poseforge.validate.speedrun import Entry, measure_interleaved, round_ratios

SCHEMA = BENCH.schema
INT8_COMPARISON = {"ir-fp32": "ir/fp32/model.xml", "ir-int8": "ir/int8/model.xml", "omz-int8": "ir/omz-int8/model.xml"}


def network_outputs(artifact: Path, images: list, protocol: str, deploy_shape: tuple[int, int]) -> list[tuple]:
    """(image id, geometry, heatmaps, pafs) for every image, from one runner."""
    shape = (1, 3, *deploy_shape) if protocol == "deploy" else None
    runner = open_runner(artifact, "f32", shape=shape)
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


def interleaved_ratios(model_dir: Path, shape: tuple[int, int, int, int], seconds: float, rounds: int) -> dict:
    """INT8 / FP32 and INT8 / release throughput, each the median of per-round ratios."""
    paths = {name: model_dir / rel for name, rel in INT8_COMPARISON.items()}
    entries = {name: Entry(name, path) for name, path in paths.items() if path.is_file()}
    if "ir-int8" not in entries:
        return {}
    context = measure_interleaved(list(entries.values()), shape, iterations=10, seconds=seconds, rounds=rounds)
    ratios = {}
    for name, other in (("int8_over_fp32_throughput", "ir-fp32"), ("int8_over_omz_throughput", "omz-int8")):
        if other in entries:
            ratios[name] = statistics.median(round_ratios(entries[other], entries["ir-int8"], "throughput"))
    throughput = {name: [run["throughput_fps"] for run in entry.runs] for name, entry in entries.items()}
    return {"ratios": ratios, "throughput_fps_by_round": throughput, **context}


def run_bench(
    model_dir: str | Path,
    coco: str | Path,
    limit: int | None = None,
    seconds: float = 10.0,
    rounds: int = 3,
    output: str | Path | None = None,
) -> dict:
    from rich.table import Table

    from poseforge.ui import console

    model_dir = Path(model_dir)
    artifact = model_dir / "ir" / "fp32" / "model.xml"
    if not artifact.is_file():
        raise PoseforgeError(f"bench needs the IR FP32 {artifact}: run `make ir-fp32` first")
    if output is not None:  # refused now, not after minutes of measuring
        if (model_dir / "ir").resolve() in Path(output).resolve().parents:
            raise PoseforgeError(f"-o {output} is among the IRs bench measures: write it to {model_dir / 'bench.json'}")
        claim(output)
    dataset = CocoKeypoints(coco)
    images = dataset.images(limit)
    meta = artifact_metadata(artifact)  # read, not compiled: the measurements compile their own
    deploy_shape = tuple(meta["input"]["deploy_shape"])

    figures: dict[str, Any] = {}
    for protocol in ("val", "deploy"):
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
    speed = measure_speed(artifact, images, deploy_shape, "f32", seconds=seconds)
    figures["network"] = speed
    decode_share = figures["deploy"]["ours_ms"]["median"] / speed["latency_ms"]["median"]
    e2e_ratio = speed["e2e_fps"] / speed["throughput_fps"]
    int8 = interleaved_ratios(model_dir, (1, 3, *deploy_shape), seconds / 2, rounds)
    figures["int8"] = int8

    table = Table(title=f"decoder bench: {len(images)} images, IR FP32 outputs, precision hint f32, "
                        f"{speed['throughput_settings']['threads']} threads")  # fmt: skip
    for column in ("figure", "measured", "target", "holds"):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def row(label: str, value: str, target: str, holds: bool | None) -> None:
        table.add_row(label, value, target, "-" if holds is None else ("yes" if holds else "NO"))

    for protocol in ("val", "deploy"):
        f = figures[protocol]
        row(
            f"{protocol}: decode median / p90, ms",
            f"{f['ours_ms']['median']:.2f} / {f['ours_ms']['p90']:.2f}",
            "<= 10" if protocol == "val" else "",
            f["ours_ms"]["median"] <= 10 if protocol == "val" else None,
        )
        row(
            f"{protocol}: reference procedure median / p90, ms",
            f"{f['reference_ms']['median']:.1f} / {f['reference_ms']['p90']:.1f}",
            "",
            None,
        )
        row(
            f"{protocol}: speed-up over the reference",
            f"{f['speedup']:.1f}x",
            ">= 10x" if protocol == "val" else "",
            f["speedup"] >= 10 if protocol == "val" else None,
        )
        row(f"{protocol}: AP ours / reference (same outputs)", f"{f['ap_ours']:.3f} / {f['ap_reference']:.3f}",
            "ours >= reference", f["ap_ours"] >= f["ap_reference"])  # fmt: skip
    row("deploy: network latency median, ms", f"{speed['latency_ms']['median']:.1f}", "", None)
    row("deploy: decode / network latency", f"{decode_share:.3f}", "<= 0.10", decode_share <= 0.10)
    row("network throughput, fps", f"{speed['throughput_fps']:.1f}", "", None)
    row("end-to-end, fps", f"{speed['e2e_fps']:.1f}", "", None)
    row("end-to-end / network throughput", f"{e2e_ratio:.3f}", ">= 0.85", e2e_ratio >= 0.85)
    for name, target in (("int8_over_fp32_throughput", 3.0), ("int8_over_omz_throughput", 0.95)):
        if name in int8.get("ratios", {}):
            value = int8["ratios"][name]
            row(name.replace("_", " ") + f" ({rounds} rounds)", f"{value:.3f}", f">= {target}", value >= target)
    console().print(table)
    ratios = {"decode_over_latency": decode_share, "e2e_over_throughput": e2e_ratio, **int8.get("ratios", {})}
    result = {
        "schema": SCHEMA,
        "model": meta["model"],
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
    if output:
        write_document(output, BENCH, result)
        print(f"wrote {output}")
    return result

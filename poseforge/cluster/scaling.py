"""`poseforge bench-scaling ARTIFACT`: sharded validation's speed-up, measured (a benchmark, not a test).

A set of N images (a COCO set replicated: the same photos under new ids, linked, not copied) is
validated in one process, then on a local Ray of 1 and of 2 workers (1 thread each). What stays
serial is merging the shards' detections and scoring them (pycocotools and the bootstrap), so
with W workers a run takes about

    T(W) = S + P / W        S: merge + scoring (measured), P: the shards' work on one worker

and the speed-up over one worker is (S + P) / (S + P / W), at most (S + P) / S. The 1-worker run
gives S and P; the 2-worker run checks the model.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from poseforge.cluster.session import ray_cluster
from poseforge.cluster.shards import ray_sharding
from poseforge.documents import COCO_ANNOTATIONS, read_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim, write_json
from poseforge.machine import machine_info
from poseforge.runtime.options import ACCURACY
from poseforge.text import plural
from poseforge.validate.accuracy.dataset import ANNOTATIONS, IMAGES
from poseforge.validate.accuracy.shards import shard_threads

ID_STRIDE = 10**9  # replica k of image i gets id k * ID_STRIDE + i (COCO ids are below 10**9)


def replicated_coco(source: Path, images: int, folder: Path) -> Path:
    """A COCO directory of `images` images: the source set's images repeated under new ids and names
    (symbolic links to the originals), their annotations with them."""
    data = read_document(source / ANNOTATIONS, COCO_ANNOTATIONS)
    if not data["images"]:
        raise PoseforgeError(f"{source / ANNOTATIONS} lists no images")
    if (largest := max(i["id"] for i in data["images"])) >= ID_STRIDE:
        raise PoseforgeError(f"{source / ANNOTATIONS} holds image id {largest}: replicas are numbered in steps of "
                             f"{ID_STRIDE} (ids below it only)")  # fmt: skip
    (folder / IMAGES).mkdir(parents=True)
    (folder / ANNOTATIONS).parent.mkdir(parents=True)
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    out = {"images": [], "annotations": [], "categories": data["categories"]}
    ordered = sorted(data["images"], key=lambda i: i["id"])
    for n in range(images):
        replica, image = divmod(n, len(ordered))
        info = ordered[image]
        new_id = replica * ID_STRIDE + info["id"]
        name = f"r{replica:03d}_{info['file_name']}"
        (folder / IMAGES / name).symlink_to((source / IMAGES / info["file_name"]).resolve())
        out["images"].append({**info, "id": new_id, "file_name": name})
        for ann in by_image.get(info["id"], []):  # ids numbered in turn: unique however many an image holds
            out["annotations"].append({**ann, "image_id": new_id, "id": len(out["annotations"]) + 1})
    (folder / ANNOTATIONS).write_text(json.dumps(out))
    return folder


def measure_scaling(artifact: str | Path, coco: str | Path, images: int = 2000, workers: tuple[int, ...] = (1, 2),
                    protocol: str = "val", say: Any = print) -> dict[str, Any]:  # fmt: skip
    """One process, then a local Ray of each worker count, on the same replicated set; the model fitted
    on the 1-worker run and checked on the others."""
    from poseforge.validate.accuracy.validate import validate_artifact

    if shard_threads(artifact) != 1:
        raise PoseforgeError(f"{artifact}: bench-scaling measures artifacts whose shards run one thread (an IR, ONNX)")
    if 1 not in workers:
        raise PoseforgeError("the scaling model is fitted on the 1-worker run: include 1 in --workers")
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="poseforge-scaling-") as tmp:
        folder = replicated_coco(Path(coco), images, Path(tmp) / "coco")
        start = time.perf_counter()
        single = validate_artifact(artifact, folder, protocol, Path(tmp) / "single.json", measure=False)
        runs["single process"] = {"seconds": time.perf_counter() - start, "ap": single["ap"],
                                  "threads": single["threads"]}  # fmt: skip
        say(f"single process ({single['threads']} threads): {runs['single process']['seconds']:.1f} s")
        for count in workers:
            with ray_cluster("local", "bench-scaling", count) as cluster:
                sharding, output = ray_sharding(cluster, 1), Path(tmp) / f"ray-{count}.json"
                start = time.perf_counter()
                report = validate_artifact(artifact, folder, protocol, output, options=ACCURACY.replace(threads=1),
                                           measure=False, sharding=sharding)  # fmt: skip
                total = time.perf_counter() - start
            seconds = report["cluster"]["seconds"]
            runs[plural(count, "worker")] = {
                "workers": count, "seconds": total, "shards_seconds": seconds["shards"],
                "serial_seconds": seconds["merge"] + seconds["scoring"], "ap": report["ap"],
                "shards": report["cluster"]["shards"],
            }  # fmt: skip
            say(f"{count} worker(s): {total:.1f} s (shards {seconds['shards']:.1f} s, merge + scoring "
                f"{seconds['merge'] + seconds['scoring']:.1f} s)")  # fmt: skip
            if report["ap"] != single["ap"]:
                raise PoseforgeError(f"{count} workers scored AP {report['ap']}, one process {single['ap']}")
    one = runs[plural(1, "worker")]
    serial = one["seconds"] - one["shards_seconds"]  # S: everything but the shards (merge, scoring, setup)
    parallel = one["shards_seconds"]  # P
    for count in workers:
        run = runs[plural(count, "worker")]
        run["speedup"] = one["seconds"] / run["seconds"]
        run["model_seconds"] = serial + parallel / count
        run["model_speedup"] = one["seconds"] / run["model_seconds"]
    return {
        "schema": "poseforge.scaling/1",
        "artifact": str(artifact),
        "images": images,
        "protocol": protocol,
        "source": str(coco),
        "machine": machine_info(),
        "runs": runs,
        "model": {
            "serial_seconds": serial,
            "parallel_seconds": parallel,
            "max_speedup": (serial + parallel) / serial if serial > 0 else None,
        },
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def scaling_lines(result: dict[str, Any]) -> list[str]:
    model = result["model"]
    lines = [f"{result['images']} images ({result['protocol']} protocol) on {result['machine']['class']}:",
             f"  single process: {result['runs']['single process']['seconds']:.1f} s"]  # fmt: skip
    for name, run in result["runs"].items():
        if "workers" in run:
            lines.append(f"  {name}: {run['seconds']:.1f} s, speed-up {run['speedup']:.2f}x over 1 worker "
                         f"(model {run['model_seconds']:.1f} s, {run['model_speedup']:.2f}x)")  # fmt: skip
    bound = f", so at most {model['max_speedup']:.0f}x on any number of nodes" if model["max_speedup"] else ""
    lines.append(f"  serial part S = {model['serial_seconds']:.1f} s, parallel part P = "
                 f"{model['parallel_seconds']:.1f} s on one worker{bound}")  # fmt: skip
    return lines


def run_scaling(artifact: str | Path, coco: str | Path, images: int, workers: tuple[int, ...],
                output: str | Path | None) -> dict[str, Any]:  # fmt: skip
    if output is not None:
        claim(output)  # refused before the minutes of measuring, not after
    result = measure_scaling(artifact, coco, images, workers)
    print("\n".join(scaling_lines(result)))
    if output is not None:
        write_json(output, result)
    return result

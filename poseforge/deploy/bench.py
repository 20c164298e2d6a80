"""`poseforge bench-deploy`: what a bundle's users get, end to end, as ratios measured in one run.

1. The network alone (THROUGHPUT hint, the plugin's requests in flight) at the letterboxed
   deploy shape and at the clip's native shape (its aspect at the deploy height).
2. `predict` itself on a 640x480 video, letterboxed and native: read, prepare, infer, decode,
   draw, write the drawn video; per-stage timings kept. Its fps is taken after the same warm-up
   as the network's (each request run twice) and without compiling, so that both are steady-state
   throughput; the whole run's fps is recorded beside it. Unless `threads` is given, the network
   alone runs on all cores and predict chooses its own threads (PoseEstimator.stream measures all
   cores against one fewer on its first frames; its steady fps starts after that choice), as a
   user's run does: each side as fast as it goes.
3. The API path at the native shape: PoseEstimator.stream over the video's frames (read,
   prepare, infer, decode) with no drawing and no video written, what an application embedding
   the estimator runs. Its ratio to the network alone is recorded beside the judged ones, with no
   target of its own: it says how much of the gap is predict's drawn video.
4. The bound. On C cores the network alone takes N ms of CPU per frame (C / its fps), and a
   pipeline's Python stages P more (the sum of their threads' CPU per frame, as means: CPU
   adds up over frames, a median would leave out the costly ones; read, preprocess, decode,
   track, draw, write; predict's video encoder, a process of its own, is counted in P too;
   handing frames to the infer requests and copying their outputs is in N, since the network
   alone is measured through the same requests).
   Both share the cores, so no pipeline can beat N / (N + P) of the network alone. Each round
   records N, P and that bound for predict and for the API path, and how much of it each
   reached.
5. Rounds interleave the runs, in alternating order (round_order), so a load that comes and goes
   cannot favour one; each ratio is taken within a round, then the median over rounds.
Judged against validate.speed.targets: native end to end over letterboxed end to end, end to end
over the network alone at the same (native) shape, and predict's and the API path's fraction of
their bound.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.deploy.estimator import PoseEstimator, requests_in_flight
from poseforge.deploy.precision import AUTO, resolve_hint
from poseforge.deploy.predict import predict
from poseforge.deploy.sources import VideoSource
from poseforge.errors import PoseforgeError
from poseforge.images import image_files, read_image
from poseforge.machine import machine_info
from poseforge.preprocess import native_width
from poseforge.runtime.bundle_runner import BundleRunner, read_bundle
from poseforge.runtime.options import RuntimeOptions
from poseforge.validate.speed.host import round_order
from poseforge.validate.speed.targets import BY_NAME as TARGETS

CLIP_SIZE = (480, 640)  # height, width: a VGA camera
CLIP_FRAMES = 400  # the thread probe takes its first ~80 frames: the steady fps is timed over the rest
DEFAULT_ROUNDS = 5  # the median of 5 rounds holds still where one machine's load comes and goes
SCHEMA = "poseforge.bench-deploy/1"


def synthetic_clip(images_dir: str | Path, output: Path, frames: int = CLIP_FRAMES) -> Path:
    """A 640x480 mp4 panning and zooming over the first 640x480 image of a folder (people moving
    across the frame, as a camera sees them)."""
    image = next((i for i in map(read_image, image_files(images_dir)) if i.shape[:2] == CLIP_SIZE), None)
    if image is None:
        raise PoseforgeError(f"{images_dir} holds no 640x480 image to make a clip of")
    h, w = CLIP_SIZE
    writer = cv2.VideoWriter(str(output), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    for i in range(frames):
        t = i / max(frames - 1, 1)
        zoom = 1.0 + 0.25 * t
        matrix = np.array([[zoom, 0, -(zoom - 1) * w / 2 + 20 * np.sin(2 * np.pi * t)], [0, zoom, -(zoom - 1) * h / 2]])
        writer.write(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return output


def network_fps(bundle: Any, shape: tuple[int, int], options: RuntimeOptions, seconds: float) -> dict[str, Any]:
    runner = BundleRunner.from_bundle(bundle, options.replace(shape=(1, 3, *shape), performance_hint="THROUGHPUT"),
                                      "the bundle")  # fmt: skip
    # As many requests in flight as predict keeps: the two differ only in predict's own work.
    frames, elapsed = runner.throughput(np.full((1, *shape, 3), 128, np.uint8), seconds, requests_in_flight(runner))
    return {"fps": frames / elapsed, "settings": runner.settings}


def api_fps(
    bundle_path: str | Path, video: str | Path, threads: int | None, precision_hint: str | None
) -> tuple[float, dict[str, Any]]:
    """PoseEstimator.stream's steady fps over the video's frames, read in its read-ahead thread, and
    its stage timings."""
    with PoseEstimator(bundle_path, threads=threads, precision_hint=precision_hint) as estimator:
        frames = VideoSource(Path(video)).frames()

        def pixels() -> Any:
            while True:
                with estimator.times.stage("read"):  # timed as predict times it
                    item = next(frames, None)
                if item is None:
                    return
                yield item[1]

        for _ in estimator.stream(pixels()):
            pass
        timings = estimator.timings()
        return timings["steady_fps"], timings["stages"]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def bound(network: float, stages: dict[str, Any], encoder_ms: float | None = None) -> dict[str, float]:
    """N (the network's CPU ms per frame on all cores), P (the Python stages' CPU ms per frame, the
    encoder's included) and the bound N / (N + P) on end to end over the network alone."""
    n = 1e3 * cores() / network
    python = sum(f.get("cpu_mean_ms", 0.0) for stage, f in stages.items() if stage != "infer")
    p = python + (encoder_ms or 0.0)
    return {"network_cpu_ms": n, "python_cpu_ms": python, "encoder_cpu_ms": encoder_ms or 0.0, "p_ms": p,
            "bound": n / (n + p)}  # fmt: skip


def of_bound(run: dict[str, Any], fps: str, bound_key: str) -> float:
    """How much of its bound a pipeline reached in a round: (its fps / the network's) / bound."""
    return run[fps] / run["network_native"] / run[bound_key]["bound"]


# One round's measurements, in round_order: each end-to-end run next to the network alone at its shape.
ROUND = (("network", "letterbox"), ("predict", "letterbox"), ("network", "native"), ("predict", "native"),
         ("api", "native"))  # fmt: skip


def predict_figures(
    bundle_path: str | Path, video: str | Path, folder: Path, size: str, threads: int | None, hint: str
) -> dict[str, Any]:
    """predict end to end on the clip at input `size`: its steady fps (after the warm-up, as the
    network-only figure is), the whole run's, its threads and where its time went."""
    summary = predict(bundle_path, video, folder, input_size=size, threads=threads, precision_hint=hint)
    if summary["steady_fps"] is None:
        raise PoseforgeError(f"{video}: {summary['frames']} frames are too few to time predict after its warm-up")
    return {
        f"e2e_{size}": summary["steady_fps"],
        f"e2e_{size}_whole_run": summary["fps"],
        f"threads_{size}": summary["runtime"]["threads"],
        f"timings_{size}": summary["timings_ms"],
        f"encoder_cpu_ms_{size}": summary["encoder_cpu_ms_per_frame"],
    }


def measure_deploy(
    bundle_path: str | Path,
    video: str | Path,
    rounds: int = DEFAULT_ROUNDS,
    seconds: float = 5.0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Network-only and end-to-end fps, letterboxed and native, in `rounds` interleaved rounds."""
    bundle = read_bundle(bundle_path)
    deploy = tuple(bundle.manifest["input"]["deploy_shape"])
    clip = VideoSource(Path(video))
    first = next(clip.frames())[1]
    native = (deploy[0], native_width(first.shape[:2], deploy[0]))
    # Every figure at the one hint the bundle's users get by default here (precision_hint="auto").
    choice = resolve_hint(AUTO, bundle.manifest, "CPU")
    options = RuntimeOptions(threads=threads, precision_hint=choice["hint"])
    shapes = {"letterbox": deploy, "native": native}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="poseforge-bench-") as scratch:
        for number in range(1, rounds + 1):
            run: dict[str, Any] = {"round": number}
            for kind, size in round_order(ROUND, number):
                if kind == "network":
                    run[f"network_{size}"] = network_fps(bundle, shapes[size], options, seconds)["fps"]
                elif kind == "predict":
                    run.update(predict_figures(bundle_path, video, Path(scratch) / f"{size}-{number}", size, threads,
                                               choice["hint"]))  # fmt: skip
                else:
                    run["api_native"], run["timings_api"] = api_fps(bundle_path, video, threads, choice["hint"])
            run["bound_predict"] = bound(run["network_native"], run["timings_native"], run["encoder_cpu_ms_native"])
            run["bound_api"] = bound(run["network_native"], run["timings_api"])
            runs.append(run)
    ratio = {
        "native_over_letterbox_e2e": statistics.median(r["e2e_native"] / r["e2e_letterbox"] for r in runs),
        "e2e_over_network_native": statistics.median(r["e2e_native"] / r["network_native"] for r in runs),
        "predict_over_bound": statistics.median(of_bound(r, "e2e_native", "bound_predict") for r in runs),
        "api_over_bound": statistics.median(of_bound(r, "api_native", "bound_api") for r in runs),
    }
    return {
        "schema": SCHEMA,
        "bundle": str(bundle_path),
        "bundle_digest": bundle.trust.digest,  # the sha256 of its bundle.json: names the whole bundle
        "model": bundle.manifest["model"],
        "precision": bundle.manifest["precision"],
        "video": {"file": str(video), "frames": clip.total, "size": list(first.shape[:2])},
        "shapes": {"letterbox": list(deploy), "native": list(native)},
        "precision_choice": choice,
        "cores": cores(),
        "rounds": runs,
        "ratios": ratio,
        "api_over_network_native": statistics.median(r["api_native"] / r["network_native"] for r in runs),
        "machine": machine_info(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def render_deploy(bench: dict[str, Any]) -> None:
    from rich.table import Table

    from poseforge.ui import console

    runs = bench["rounds"]
    shapes = bench["shapes"]
    table = Table(title=f"bench-deploy: {bench['model']} {bench['precision']} bundle on {bench['video']['file']} "
                        f"({bench['video']['size'][1]}x{bench['video']['size'][0]}), {len(runs)} interleaved rounds, "
                        f"{bench['machine']['class']} ({bench['machine']['cpu']}), precision hint "
                        f"{bench['precision_choice']['hint']}")  # fmt: skip
    for column in ("figure", *(f"round {r['round']}" for r in runs), "target", "holds"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for size in ("letterbox", "native"):
        shape = f"{shapes[size][0]}x{shapes[size][1]}"
        table.add_row(f"network only, {size} {shape}, fps", *(f"{r[f'network_{size}']:.1f}" for r in runs), "", "")
        table.add_row(f"end to end (predict), {size}, fps", *(f"{r[f'e2e_{size}']:.1f}" for r in runs), "", "")
        table.add_row(f"  the whole run, warm-up included, {size}, fps",
                      *(f"{r[f'e2e_{size}_whole_run']:.1f}" for r in runs), "", "")  # fmt: skip
        table.add_row(f"  predict's inference threads, {size}", *(str(r[f"threads_{size}"]) for r in runs), "", "")
    table.add_row("end to end, API path (stream: no drawing, no video written), native, fps",
                  *(f"{r['api_native']:.1f}" for r in runs), "", "")  # fmt: skip
    table.add_row("API path over the network alone, native shape (median)", *("" for _ in runs), "",
                  f"{bench['api_over_network_native']:.3f}")  # fmt: skip
    for path in ("predict", "api"):
        name = "predict" if path == "predict" else "API path"
        table.add_row(f"{name}: N, the network's CPU ms per frame ({bench['cores']} cores / network fps)",
                      *(f"{r[f'bound_{path}']['network_cpu_ms']:.1f}" for r in runs), "", "")  # fmt: skip
        table.add_row(f"{name}: P, the Python stages' CPU ms per frame" + (" (+ the encoder's)" if path == "predict"
                      else ""), *(f"{r[f'bound_{path}']['python_cpu_ms']:.1f}" + (
                          f" + {r[f'bound_{path}']['encoder_cpu_ms']:.1f}" if path == "predict" else "")
                          for r in runs), "", "")  # fmt: skip
        table.add_row(f"{name}: bound N/(N+P) on end to end over the network alone",
                      *(f"{r[f'bound_{path}']['bound']:.3f}" for r in runs), "", "")  # fmt: skip
    for name, value in bench["ratios"].items():
        target = TARGETS[name]
        table.add_row(f"{target.meaning} (median)", *("" for _ in runs), target.wanted,
                      f"{value:.3f} {'yes' if target.holds(value) else 'NO'}")  # fmt: skip
    slowest = {size: max(runs[-1][f"timings_{size}"].items(), key=lambda kv: kv[1]["median_ms"]) for size in shapes}
    console().print(table)
    for size, (stage, figures) in slowest.items():
        console().print(f"{size}: slowest stage {stage}, {figures['median_ms']:.1f} ms per frame (median, last round)")
        stages = ", ".join(f"{name} {f['median_ms']:.1f}" + (f" ({f['cpu_median_ms']:.1f} CPU)" if "cpu_median_ms" in f
                           else "") for name, f in runs[-1][f"timings_{size}"].items())  # fmt: skip
        console().print(f"  ms per frame, wall (its thread's CPU): {stages}")
    stages = ", ".join(f"{name} {f['median_ms']:.1f}" + (f" ({f['cpu_median_ms']:.1f} CPU)" if "cpu_median_ms" in f
                       else "") for name, f in runs[-1]["timings_api"].items())  # fmt: skip
    console().print(f"API path: ms per frame, wall (its thread's CPU): {stages}")

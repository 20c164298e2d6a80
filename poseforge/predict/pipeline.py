"""predict(): a bundle on an image, a folder of images or a video -> drawn poses and poses.json.

Three stages overlap: a thread reads and letterboxes frames ahead (deploy protocol, the
bundle's deploy shape), OpenVINO infers the next frames asynchronously (`Runner.stream`, the
plugin's optimal number of requests), and this thread decodes (the shared decoder, the
bundle's decoder defaults), draws and writes the earlier ones. Imports nothing beyond
openvino, numpy, opencv and the standard library (rich for the progress bar).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.background import read_ahead
from poseforge.bundle import decoder_params
from poseforge.decode import decode, to_coco_results
from poseforge.documents import PREDICT, RESULTS, write_document
from poseforge.draw import draw_poses
from poseforge.errors import PoseforgeError
from poseforge.fileio import check_earlier_output, check_output_place, output_directory, sha256_file
from poseforge.predict.outputs import POSES, SCHEMA, SUMMARY, ImageWriter, VideoWriter, read_summary
from poseforge.predict.sources import ImageSource, VideoSource, open_source
from poseforge.preprocess import prepare
from poseforge.runtime import artifact_kind
from poseforge.runtime.options import RuntimeOptions
from poseforge.ui import progress

PREDICT_OPTIONS = RuntimeOptions(performance_hint="THROUGHPUT")  # later frames in flight while earlier ones decode
IMAGE_ID_RULE = {
    "video": "the frame index, from 0",
    "image": "the number the file name holds (000000000139.jpg -> 139) when every name is a distinct number, "
    "else the index in name order, from 0",
}


def predict(
    bundle: str | Path,
    input_path: str | Path,
    output: str | Path,
    options: RuntimeOptions = PREDICT_OPTIONS,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Run `bundle` on `input_path`, write the output folder `output`; return predict.json's content."""
    from poseforge.runtime.bundle_runner import BundleRunner, read_bundle  # openvino: once the inputs look right

    if artifact_kind(bundle) != "bundle":
        raise PoseforgeError(f"{bundle} is not a bundle: predict takes the .tar.gz of `poseforge bundle`")
    source = open_source(input_path)
    output = Path(output)
    check_output_place(output, [input_path, bundle])  # refused before the network is compiled
    if output.exists() or output.is_symlink():
        check_earlier_output(output, SUMMARY, read_summary)
    read = read_bundle(bundle)  # refuses a bad bundle before anything is compiled
    deploy_shape = tuple(read[2]["input"]["deploy_shape"])
    params = decoder_params(read[2])
    runner = BundleRunner.from_bundle(read, options.replace(shape=(1, 3, *deploy_shape)), str(bundle))

    results: list[dict] = []
    skipped: list[str] = []
    per_image: list[dict[str, Any]] = []  # name, id, people: for images only (a video's ids are its frame numbers)
    frames = 0

    def items(bar: Any, task: Any) -> Iterator[tuple[Any, np.ndarray]]:
        for frame, pixels in source.frames(skip_bad):
            if pixels is None:
                skipped.append(frame.name)
                bar.advance(task)
                continue
            prepared = prepare(pixels, "deploy", deploy_shape)  # in the read-ahead thread
            yield (frame, pixels, prepared.geometry), prepared.image[None]

    with output_directory(output, SUMMARY, read_summary, [input_path, bundle]) as tmp, progress() as bar:
        writer = _writer(source, tmp)
        try:
            task = bar.add_task(f"predict {source.name}", total=source.total)
            start = time.perf_counter()
            for (frame, pixels, geometry), (heatmaps, pafs) in runner.stream(read_ahead(items(bar, task))):
                poses = decode(heatmaps[0], pafs[0], geometry, params)
                results.extend(to_coco_results(poses, frame.image_id))
                writer.write(frame.name, draw_poses(pixels, poses))
                if isinstance(source, ImageSource):
                    per_image.append({"name": frame.name, "image_id": frame.image_id, "people": len(poses)})
                frames += 1
                bar.advance(task)
            seconds = time.perf_counter() - start
        finally:
            writer.close()
        if not frames:
            raise PoseforgeError(f"{source.name}: no frame could be read")
        counts = {"frames": frames, "people": len(results), "seconds": seconds}
        summary = _summary(bundle, runner, source, output, writer.files, counts, per_image, skipped)
        write_document(tmp / POSES, RESULTS, results)
        write_document(tmp / SUMMARY, PREDICT, summary)
    return summary


def _writer(source: ImageSource | VideoSource, directory: Path) -> ImageWriter | VideoWriter:
    if isinstance(source, VideoSource):
        return VideoWriter(directory / f"{source.path.stem}.mp4", source.fps)
    return ImageWriter(directory)


def _summary(
    bundle: str | Path,
    runner: Any,
    source: ImageSource | VideoSource,
    output: Path,
    files: list[str],
    counts: dict[str, Any],
    per_image: list[dict[str, Any]],
    skipped: list[str],
) -> dict[str, Any]:
    video = isinstance(source, VideoSource)
    summary = {
        "schema": SCHEMA,
        "bundle": str(bundle),
        "bundle_sha256": sha256_file(bundle),
        "model": runner.bundle["model"],
        "precision": runner.bundle["precision"],
        "input": str(source.path),
        "kind": source.kind,
        "protocol": "deploy",
        "deploy_shape": runner.bundle["input"]["deploy_shape"],
        **counts,
        "skipped": skipped,
        "fps": counts["frames"] / counts["seconds"] if counts["seconds"] else 0.0,
        "runtime": runner.settings,
        "image_id": IMAGE_ID_RULE["video" if video else "image"],
        "poses": POSES,
        "drawn": files,
        "files": sorted([*files, POSES]),  # everything in the folder but predict.json: what a rerun may replace
        "output": str(output),
    }
    if video:
        summary["video_fps"] = source.fps
    else:
        summary["images"] = per_image
    return summary


def summary_line(output: str | Path, summary: dict[str, Any]) -> str:
    """The one line the CLI prints when predict has written `output`."""
    runtime = summary["runtime"]
    unit = "frames" if summary["kind"] == "video" else "images"
    skipped = f", {len(summary['skipped'])} skipped (undecodable)" if summary["skipped"] else ""
    return (
        f"wrote {output}: {summary['people']} people in {summary['frames']} {unit}{skipped}; "
        f"{summary['fps']:.1f} fps end to end (read, letterbox, infer, decode, draw, write) with "
        f"{runtime['threads']} threads, {runtime['streams']} streams, precision hint {runtime['precision_hint']}"
    )

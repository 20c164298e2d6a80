"""predict(): a bundle on an image, a folder, a video, a camera or a stream -> drawn poses and poses.json.

    summary = predict("dist/model-int8.tar.gz", "clip.mp4", "out/", track=True, smooth=True)
    summary = predict("dist/model-int8.tar.gz", "clip.mp4", save="poses")   # runs/predict/<n>, poses only

Built on PoseEstimator.stream: a thread reads and prepares frames ahead, the network infers later
frames while this thread decodes and tracks earlier ones; a video's frames are drawn and fed to
its encoder by the writer's own thread (outputs.VideoWriter). Each stage is timed (read
... write, ms per frame, median and p90) and the summary names the slowest; compiling the network
and the first frame are reported apart from the steady frame rate. A live source ends when it
stops sending (or on Ctrl-C), and what was written is kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.decode import Poses, to_coco_results
from poseforge.deploy import SAVE
from poseforge.deploy.estimator import PoseEstimator
from poseforge.deploy.outputs import (
    POSES,
    SCHEMA,
    SUMMARY,
    ImageWriter,
    PosesOnly,
    VideoWriter,
    numbered_folder,
    read_summary,
    track_summary,
)
from poseforge.deploy.sources import DEFAULT_FPS, Frame, ImageSource, VideoSource, open_source
from poseforge.deploy.timing import StageTimes
from poseforge.documents import MAX_INT_DIGITS, PREDICT, RESULTS, write_document
from poseforge.draw import draw_poses
from poseforge.errors import PoseforgeError
from poseforge.fileio import check_earlier_output, check_output_place, output_directory
from poseforge.runtime import artifact_kind
from poseforge.text import plural
from poseforge.ui import progress

IMAGE_ID_RULE = {
    "video": "the frame index, from 0",
    "image": "the number the file name holds (000000000139.jpg -> 139) when every name is a distinct number of "
    f"at most {MAX_INT_DIGITS} digits, else the index in name order, from 0",
}
SCORE_MEANING = (
    "the grouping score (its keypoints' heatmap peaks, each at most 1, plus its limbs' part affinities, each at "
    "most 1) over the square root of its keypoint count: higher for more, and more confident, parts found"
)


def predict(
    bundle: str | Path,
    input_spec: str | Path,
    output: str | Path | None = None,
    *,
    save: str = "drawn",
    skip_bad: bool = False,
    max_frames: int | None = None,
    **estimator_options: Any,
) -> dict[str, Any]:
    """Run `bundle` on `input_spec`, write the output folder `output` (None: the next free number
    under runs/predict/); return predict.json's content.

    `save`: "drawn" (the input drawn: images as images, a video as a video), "poses" (poses.json
    and predict.json only: nothing drawn or encoded) or "video" (the drawn frames as one video,
    whatever the input). `estimator_options` go to PoseEstimator (precision_hint, threads,
    input_size, input_height, decoder, min_score, track, smooth, tracker, trusted_keys, device); `max_frames`
    stops after so many frames (for a live source).
    """
    if artifact_kind(bundle) != "bundle":
        raise PoseforgeError(f"{bundle} is not a bundle: predict takes the .tar.gz of `poseforge bundle`")
    if save not in SAVE:
        raise PoseforgeError(f"save {save!r}: choose from {', '.join(SAVE)}")
    source = open_source(input_spec)
    inputs = [bundle] + ([source.path] if isinstance(source, ImageSource) or not source.live else [])
    if output is not None:
        output = Path(output)
        check_output_place(output, inputs)  # refused before the network is compiled
        if output.exists() or output.is_symlink():
            check_earlier_output(output, SUMMARY, read_summary)
    estimator = PoseEstimator(bundle, **estimator_options)
    numbered = output is None
    output = numbered_folder() if output is None else output  # made now, kept only if the run completes
    try:
        return _predict_into(bundle, source, output, inputs, estimator, save, skip_bad, max_frames)
    except BaseException:
        if numbered:
            with contextlib.suppress(OSError):
                output.rmdir()  # still empty: the run wrote nothing there
        raise


def _predict_into(bundle: str | Path, source: Any, output: Path, inputs: list, estimator: PoseEstimator, save: str,
                  skip_bad: bool, max_frames: int | None) -> dict[str, Any]:  # fmt: skip
    with output_directory(output, SUMMARY, read_summary, inputs) as tmp, progress() as bar:
        run = _Run(estimator, source, _writer(source, tmp, save, estimator.times), bar, skip_bad, max_frames)
        try:
            run.loop()
        except BaseException:
            run.writer.abort()
            raise
        run.writer.close()
        if not run.frames:
            raise PoseforgeError(f"{source.name}: no frame could be read")
        summary = run.summary(bundle, output, save)
        write_document(tmp / POSES, RESULTS, run.results)
        write_document(tmp / SUMMARY, PREDICT, summary)
    return summary


class _Run:
    """One predict run: the frames' journey from the source through the estimator to the writer."""

    def __init__(self, estimator: PoseEstimator, source: Any, writer: Any, bar: Any, skip_bad: bool,
                 max_frames: int | None) -> None:  # fmt: skip
        self.estimator, self.source, self.writer, self.bar = estimator, source, writer, bar
        self.skip_bad, self.max_frames = skip_bad, max_frames
        self.task = bar.add_task(f"predict {source.name}", total=source.total)
        self.results: list[dict] = []
        self.skipped: list[str] = []
        self.per_image: list[dict[str, Any]] = []  # images only: a video's ids are its frame numbers
        self.frames, self.interrupted = 0, False
        self.stop = threading.Event()  # set on Ctrl-C of a live source: the reader stops
        self._in_flight: deque[tuple[Frame, np.ndarray]] = deque()  # filled by the reader, in order

    def pixels(self) -> Iterator[np.ndarray]:
        """The source's decodable frames, each remembered for drawing. Run by the estimator's
        read-ahead thread, which prepares each frame as soon as it is read."""
        times, frames = self.estimator.times, self.source.frames(self.skip_bad)
        count = 0
        while not self.stop.is_set() and (self.max_frames is None or count < self.max_frames):
            with times.stage("read"):
                item = next(frames, None)
            if item is None:
                return
            frame, pixels = item
            count += 1
            if pixels is None:
                self.skipped.append(frame.name)
                self.bar.advance(self.task)
                continue
            self._in_flight.append((frame, pixels if self.writer.draws else None))  # kept for drawing only
            yield pixels

    def loop(self) -> None:
        fps = self.source.fps if isinstance(self.source, VideoSource) else None
        results = self.estimator.stream(self.pixels(), fps)  # read in the estimator's read-ahead thread
        try:
            for poses in results:
                frame, pixels = self._in_flight.popleft()
                self.results.extend(to_coco_results(poses, frame.image_id))
                if pixels is not None:  # drawn by the writer (a video's in its feeder thread)
                    self.writer.write(frame.name, pixels, poses)
                if isinstance(self.source, ImageSource):
                    self.per_image.append({"name": frame.name, "image_id": frame.image_id, "people": len(poses)})
                self.frames += 1
                self.bar.advance(self.task)
        except KeyboardInterrupt:
            if not getattr(self.source, "live", False):
                raise  # a file's run is not complete: nothing is written
            self.interrupted = True  # a live source has no end but this: keep what was written
            self.stop.set()
        finally:
            results.close()

    def summary(self, bundle: str | Path, output: Path, save: str) -> dict[str, Any]:
        estimator, source = self.estimator, self.source
        video = isinstance(source, VideoSource)
        timings = estimator.timings()
        summary = {
            "schema": SCHEMA,
            "bundle": str(bundle),
            "bundle_sha256": estimator.bundle_sha256,  # of the bytes that ran: the file may be replaced since
            "trust": estimator.trust.to_dict(),  # the bundle's digest (bundle.json's sha256) and who signed it
            "model": estimator.model,
            "precision": estimator.precision,
            "measured": estimator.measured(),
            "notice": estimator.notice,
            "input": str(source.location if video else source.path),
            "kind": source.kind,
            "input_size": estimator.input_size,
            "input_height": estimator.input_height if estimator.input_size == "native" else None,
            "deploy_shape": list(estimator.deploy_shape),
            "frames": self.frames,
            "people": len(self.results),
            "seconds": timings["seconds"],
            "compile_seconds": timings["compile_seconds"],
            "first_frame_seconds": timings["first_frame_seconds"],
            "fps": timings["fps"] or 0.0,
            "steady_fps": timings["steady_fps"],
            "timings_ms": timings["stages"],
            "slowest_stage": timings["slowest"],
            "skipped": self.skipped,
            "runtime": estimator.settings,
            "decoder": dataclasses.asdict(estimator.params),
            "min_score": estimator.min_score,
            "tracking": _tracking(estimator, self.results),
            "score": SCORE_MEANING,
            "image_id": IMAGE_ID_RULE["video" if video else "image"],
            "poses": POSES,
            "save": save,
            "drawn": self.writer.files,
            "video_codec": self.writer.codec,
            "encoder_cpu_ms_per_frame": _encoder_ms(self.writer),
            "notes": list(self.writer.notes),
            "files": sorted([*self.writer.files, POSES]),  # everything but predict.json: what a rerun may replace
            "output": str(output),
        }
        if video:
            # A file that ended before the count its header announced (an estimate, or a truncated file)
            # is complete as read: said apart from a live source that stopped sending.
            ended = source.ended_early
            summary.update(video_fps=source.fps, announced_frames=source.total, stream_lost=source.live and ended,
                           ended_early=not source.live and ended, interrupted=self.interrupted)  # fmt: skip
        else:
            summary["images"] = self.per_image
        return summary


def _tracking(estimator: PoseEstimator, results: list[dict[str, Any]]) -> dict[str, Any] | None:
    if estimator.tracker is None:
        return None
    smoother = estimator.smoother
    return {
        "tracker": dataclasses.asdict(estimator.tracker.params),
        "smoother": dataclasses.asdict(smoother.params) if smoother is not None else None,
        "tracks": track_summary(results),
    }


def _encoder_ms(writer: Any) -> float | None:
    """The video encoder's CPU per frame (its own process: not in any stage's thread CPU)."""
    cpu = getattr(writer, "encoder_cpu_seconds", None)
    return 1e3 * cpu / writer.frames if cpu is not None and writer.frames else None


def _writer(source: ImageSource | VideoSource, directory: Path, save: str,
            times: StageTimes) -> ImageWriter | VideoWriter | PosesOnly:  # fmt: skip
    if save == "poses":
        return PosesOnly()

    def draw(pixels: np.ndarray, poses: Poses) -> np.ndarray:  # timed in the thread that draws
        with times.stage("draw"):
            return draw_poses(pixels, poses, copy=False)  # the frame is not used again

    if isinstance(source, VideoSource):
        return VideoWriter(directory / f"{source.path.stem}.mp4", source.fps, draw, times)
    if save == "video":  # images as the frames of one video, at a video's default rate
        return VideoWriter(directory / f"{source.path.stem}.mp4", DEFAULT_FPS, draw, times)
    return ImageWriter(directory, draw, times)


def summary_line(summary: dict[str, Any]) -> str:
    """The one line the CLI prints when predict has written its folder: what was found, then the
    steady frame rate apart from compiling and the first frame (which a single image is all of)."""
    runtime = summary["runtime"]
    unit = "image" if summary["kind"] in ("image", "folder") else "frame"
    skipped = f", {len(summary['skipped'])} skipped (undecodable)" if summary["skipped"] else ""
    ended = ", the stream was lost (what came is kept)" if summary.get("stream_lost") else ""
    if summary.get("ended_early"):  # every frame before the end was drawn or skipped
        ended += (f", ended at frame {summary['frames'] + len(summary['skipped'])} of the {summary['announced_frames']}"
                  " its header announced (an estimate, or the file is truncated)")  # fmt: skip
    ended += ", stopped by Ctrl-C (what came is kept)" if summary.get("interrupted") else ""
    first = summary["first_frame_seconds"]
    start = f"compile {summary['compile_seconds']:.2f} s" + (f", first frame {1e3 * first:.0f} ms" if first else "")
    rates = ""  # one frame has no rate: its time is the first frame's
    if summary["frames"] > 1:
        steady = f"{summary['steady_fps']:.1f} fps steady, " if summary["steady_fps"] else ""
        rates = f"{steady}{summary['fps']:.1f} fps end to end; "
    slowest = summary["slowest_stage"]
    slow = f"; slowest stage {slowest} {summary['timings_ms'][slowest]['median_ms']:.1f} ms" if slowest else ""
    threads = f" with {plural(runtime['threads'], 'thread')}" if runtime.get("threads") else ""
    height = f" (height {summary['input_height']})" if summary.get("input_height") else ""
    return (
        f"wrote {summary['output']}: {plural(summary['people'], 'person', 'people')} in "
        f"{plural(summary['frames'], unit)}{skipped}{ended}; {rates}{start}; "
        f"{runtime.get('device', 'CPU')} at {summary['input_size']} input size{height}{threads}, precision hint "
        f"{runtime.get('precision_hint')}{slow}"
    )

"""PoseEstimator: a deployment bundle as an object an application calls per frame.

    from poseforge import PoseEstimator

    with PoseEstimator("dist/human-pose-estimation-0001-int8.tar.gz", track=True, smooth=True) as estimator:
        poses = estimator(frame)                 # BGR uint8 H x W x 3 in; Poses in frame pixels out
        for poses in estimator.stream(frames):   # pipelined: later frames infer while this one decodes
            ...

The bundle is verified once and its network kept in memory. Each frame is fed at its own aspect
(`input_size="native"`: the input height, by default the bundle's deploy height, by the frame's
width at that height, rounded up to a multiple of 8) or letterboxed into the deploy shape
(`"letterbox"`). `input_height` trades speed for accuracy: report.md's height table measures both
per height, and `measured()` leads with the AP of what runs. A frame's input is a function of the
frame alone, never of the frames seen before it, so the same frame always gets the same poses. The
first frame size is compiled for its own shape (a video's, a camera's: the fastest); frames of any
other size run on the network compiled for every shape (as validation runs it: the same outputs, bit
for bit, a little slower per frame) instead of compiling each new width (which costs the time of
many frames). In a stream, once a second size is seen, every frame runs on that one network.
Tracking gives each person an id across frames (PoseTracker: OKS matching in two stages by score,
ids once a track is confirmed, every track ended at a scene cut, told from a thumbnail of each
frame made as it is prepared: deploy.scenes) and smoothing filters each tracked keypoint
(One-Euro). Needs openvino, numpy and opencv only.

Threads (`threads=None`): a single frame runs on all cores. A stream shares the cores between the
network and the Python stages (decoding, and whatever the caller does per frame), and which split
is faster depends on the machine: where the network runs fast (INT8 on AMX, say) the Python stages
can limit the stream, and leaving them a core can gain more than it costs the network; elsewhere it
is the other way round. So `stream` measures both: its first frames run with all cores, then with one core
fewer, PROBE_FRAMES each after their warm-up, and it keeps one core fewer for the rest only if that
was faster by more than PROBE_MARGIN (a closer result is within what so few frames can tell on a
shared machine, and all cores is the default); the other is dropped. On 2 cores each of the
network's streams runs on one thread either way, so the poses are the same;
`settings["thread_probe"]` records what was measured. The probe runs on the CPU only: on another
device (`device="AUTO"`, `"GPU"`, `"NPU"`) the plugin's own split is used.

Threads of the caller (concurrency): one estimator may be shared between threads. Each call
runs on an infer request of its own from the compiled network's pool (runtime.openvino_runner),
and everything else a call touches is per call or behind a lock: the compiled-shape cache, the
first frame size, the stage timings and the thread probe (one stream probes; a stream that starts
meanwhile uses all cores). Calls from several threads therefore give each frame exactly the
poses it gets alone; `stream` and calls run side by side. The requests are pooled, not locked:
a lock would run one frame at a time, a request per call lets the plugin overlap them; on one
thread the pool costs a list pop and append per call. A tracked estimator (`track=True`) is
different: its tracker and smoother follow one sequence of frames, and frames from several
threads would interleave into one sequence and mix people's ids. So a tracked estimator takes
one call or stream at a time and refuses an overlapping one with a PoseforgeError (one
estimator per camera is the rule).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import numbers
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.artifacts import check_height
from poseforge.background import read_ahead
from poseforge.bundle.manifest import decoder_params, measured_line
from poseforge.decode import DecoderParams, Poses, decode
from poseforge.deploy.precision import AUTO, resolve_hint
from poseforge.deploy.scenes import SceneCuts, thumbnail
from poseforge.deploy.smoothing import OneEuroParams, PoseSmoother
from poseforge.deploy.timing import StageTimes
from poseforge.deploy.tracking import PoseTracker, TrackerParams
from poseforge.errors import PoseforgeError
from poseforge.images import check_frame, read_image
from poseforge.preprocess import Prepared, prepare
from poseforge.runtime.options import WARMUP_PASSES, RuntimeOptions

INPUT_SIZES = ("native", "letterbox")
MAX_SHAPES = 8  # compiled networks kept (by shape, hint, threads), least recently used dropped: bounded memory
ANY_SHAPE = None  # the key of the network compiled for every input shape
READ_AHEAD = 8  # frames prepared ahead of the network in `stream`
PROBE_FRAMES = 30  # frames timed per thread count when `stream` chooses one (after each one's warm-up)
PROBE_MARGIN = 0.05  # how much faster one core fewer must be to be kept instead of all cores
QUEUED = 3  # infer requests in flight per optimal request in `stream`: a stream starts its next frame
# the moment one ends, not when Python, busy decoding and drawing, comes back to hand it one; on cores
# shared with Python's stages, frames come back in bursts, and a deeper queue (and read-ahead) keeps
# the network fed through them


@dataclasses.dataclass(frozen=True)
class Cued(Prepared):
    """A prepared frame with its scene-cut cue (deploy.scenes), made when tracking."""

    thumbnail: np.ndarray


def requests_in_flight(runner: Any) -> int:
    """How many infer requests `stream` keeps in flight on a compiled network."""
    return QUEUED * runner.settings["optimal_requests"]


class PoseEstimator:
    """A verified bundle, ready to find people in frames (safe to share between threads: see the
    module docstring)."""

    def __init__(
        self,
        bundle: str | Path,
        *,
        precision_hint: str | None = AUTO,
        threads: int | None = None,
        input_size: str = "native",
        input_height: int | None = None,
        decoder: DecoderParams | dict[str, Any] | None = None,
        min_score: float = 0.0,
        track: bool = False,
        smooth: bool = False,
        tracker: TrackerParams | dict[str, Any] | None = None,
        smoother: OneEuroParams | dict[str, Any] | None = None,
        trusted_keys: Sequence[str | Path] | None = None,
        device: str = "CPU",
    ) -> None:
        """`trusted_keys`: public key files (KEY.pub from `poseforge keygen`); a bundle not signed by
        one of them is refused. Without them an unsigned bundle loads, and `trust` says so: it holds
        the bundle's digest (the sha256 of its bundle.json, which lists every file's) and its signer.
        `precision_hint="auto"` runs the fastest hint whose AP the bundle validated within tolerance of
        f32 on this machine class (bf16 for an FP32 bundle on AMX), f32 where it has no figures for the
        class; `precision_choice` says what was chosen and why. "f32", "bf16", "f16" force a hint; None
        is the device's own default.
        `input_height`: the native input's height (a multiple of 8 from 64 to 1024; None: the bundle's
        deploy height, 256)."""
        from poseforge.runtime.bundle_runner import read_bundle  # openvino, once the arguments look right

        if input_size not in INPUT_SIZES:
            raise PoseforgeError(f"input_size {input_size!r}: choose {' or '.join(INPUT_SIZES)}")
        if input_height is not None:
            check_height(input_height, "input_height")
            if input_size == "letterbox":
                raise PoseforgeError("input_height sets the native input's height: input_size='letterbox' runs the "
                                     "bundle's deploy shape")  # fmt: skip
        if not (is_number(min_score) and math.isfinite(min_score) and min_score >= 0):
            raise PoseforgeError(f"min_score must be a number >= 0, got {min_score!r}")
        if smooth and not track:
            raise PoseforgeError("smoothing filters each person's track: it needs track=True")
        tracker = merge_params(TrackerParams(), tracker, "tracker")  # checked even when not used
        smoother = merge_params(OneEuroParams(), smoother, "smoother")
        self.path = Path(bundle)
        self._read = read_bundle(bundle, trusted_keys)  # verified: refused before anything is compiled
        self.trust = self._read.trust
        self.bundle_sha256 = self._read.sha256  # of the archive as verified, whatever is at its path later
        self.manifest: dict[str, Any] = self._read[2]
        self.params = merge_decoder(decoder_params(self.manifest), decoder)
        self.precision_choice = resolve_hint(precision_hint, self.manifest, device)
        self.options = RuntimeOptions(device=device, precision_hint=self.precision_choice["hint"], threads=threads)
        self.input_size, self.min_score = input_size, float(min_score)
        self.deploy_shape: tuple[int, int] = tuple(self.manifest["input"]["deploy_shape"])
        self.input_height = self.deploy_shape[0] if input_height is None else int(input_height)
        self.tracker = PoseTracker(tracker) if track else None
        self.cuts = SceneCuts(tracker.cut_threshold) if track else None
        self.smoother = PoseSmoother(smoother) if smooth else None
        self.times = StageTimes()
        self._runners: OrderedDict[tuple, Any] = OrderedDict()
        self._stream_threads = threads  # a stream's threads (None: all cores)
        # If not given, measured on the first stream long enough (on the CPU: elsewhere threads are the plugin's).
        self._threads_chosen = threads is not None or device != "CPU"
        self.thread_probe: dict[str, Any] | None = None  # what that measurement found
        self._first_shape: tuple[int, int] | None = None  # the input shape compiled for itself
        self._mixed = False  # a frame of another shape was seen: streams run every frame on ANY_SHAPE
        self._clock: float | None = None  # the last frame's time, seconds: what the smoother filters over
        self._cache_lock = threading.RLock()  # the compiled networks and the first input shape
        self._probe_lock = threading.Lock()  # held by the one stream measuring the thread counts
        self._sequence = threading.Lock()  # a tracked estimator's one call or stream at a time

    # --- what the bundle says about itself ---------------------------------------------------
    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def notice(self) -> str:
        """The weights' source and licence, as the bundle records them."""
        return self.manifest["source"]["notice"]

    def measured(self) -> str:
        """The bundle's measured accuracy in one line, led by the AP of what this estimator runs (the
        native protocol at its input height, naming it, or the letterboxed deploy shape); if that
        height was not measured, the nearest figure that was, said to be another; then the others,
        with their intervals, image set and people."""
        line = measured_line(self.manifest["measured"], self.input_size, self.input_height, list(self.deploy_shape))
        return f"{self.model} {self.precision}: {line}"

    # --- one frame ----------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray | str | Path, timestamp: float | None = None) -> Poses:
        """The people in one BGR uint8 frame (H x W x 3), or the image file at a path, in its pixel
        coordinates, best first. `timestamp` (seconds, increasing) is the frame's time for
        smoothing; by default frames come at the smoother's own rate. Without smoothing it times
        nothing, and is only checked to be a finite number."""
        if timestamp is not None:
            check_timestamp(timestamp)
        with self._one_sequence("a call"):
            if timestamp is not None and self.smoother is not None:
                self._check_increasing(timestamp)  # before any work: a refused frame changes no state
            if self.times.frames == 0:
                self.times.begin()
            if isinstance(frame, str | Path):
                with self.times.stage("read"):
                    frame = read_image(frame)
            with self.times.stage("preprocess"):
                prepared = self.prepare(frame)
            runner = self.runner(self._shape_of(prepared.image.shape[:2]), "LATENCY")
            with self.times.stage("infer"):
                heatmaps, pafs = runner.run(prepared.image[None])
            return self._finish(heatmaps, pafs, prepared, timestamp)

    def stream(self, frames: Iterable[np.ndarray], fps: float | None = None) -> Iterator[Poses]:
        """The people of each frame, in order, pipelined: frames are prepared in a thread ahead of the
        network, later frames infer while earlier ones are decoded. `fps` (> 0) gives the smoother
        real frame intervals (a video's rate); without it, its own default rate is assumed."""
        if fps is not None and not (is_number(fps) and math.isfinite(fps) and fps > 0):
            raise PoseforgeError(f"fps must be a number > 0, got {fps!r}")
        return self._stream(frames, fps)

    def _stream(self, frames: Iterable[np.ndarray], fps: float | None) -> Iterator[Poses]:
        with self._one_sequence("a stream"):
            yield from self._pipelined(frames, fps)

    def _pipelined(self, frames: Iterable[np.ndarray], fps: float | None) -> Iterator[Poses]:
        if self.times.frames == 0:
            self.times.begin()
        waited = [0.0]  # seconds the network's queue spent waiting for prepared frames

        def prepared() -> Iterator[Prepared]:
            for frame in frames:
                with self.times.stage("preprocess"):
                    item = self.prepare(frame)
                yield item

        def fed(group: Iterator[Prepared]) -> Iterator[tuple[Prepared, np.ndarray]]:
            while True:
                start = time.perf_counter()
                item = next(group, None)
                waited[0] += time.perf_counter() - start
                if item is None:
                    return
                yield item, item.image[None]

        # Frames are grouped by the network they run on: one group while one shape has been seen, then
        # (once mixed) every frame on the network for every shape, pipelined without a break per size.
        def network(item: Prepared) -> tuple[int, int] | None:
            shape = self._shape_of(item.image.shape[:2])
            return ANY_SHAPE if self._mixed else shape

        for shape, group in itertools.groupby(read_ahead(prepared(), READ_AHEAD), key=network):
            results = self._inferred(shape, fed(group))
            try:
                while True:
                    start, before, compiling = time.perf_counter(), waited[0], self.times.compile_seconds
                    result = next(results, None)
                    if result is None:
                        break
                    # Waiting for the network; neither waiting for frames nor compiling is inferring.
                    compiled = self.times.compile_seconds - compiling
                    self.times.add("infer", time.perf_counter() - start - (waited[0] - before) - compiled)
                    item, (heatmaps, pafs) = result
                    yield self._finish(heatmaps, pafs, item, None if fps is None else self._tick(1 / fps))
            finally:
                results.close()

    def _inferred(self, shape: tuple[int, int], items: Iterator[tuple[Prepared, np.ndarray]]) -> Iterator[Any]:
        """(prepared, outputs) for each item, in order, from the network compiled for `shape` with the
        stream's thread count; while that is undecided, the first items measure the candidates."""
        if self._threads_chosen or len(candidates := thread_candidates()) < 2 or not self._probe_lock.acquire(False):
            yield from self._streamed(self.runner(shape, "THROUGHPUT", self._stream_threads), items)
            return
        try:
            yield from self._probed(shape, items, candidates)
        finally:
            self._probe_lock.release()

    def _probed(self, shape: tuple[int, int], items: Iterator[Any], candidates: list[int | None]) -> Iterator[Any]:
        """`_inferred` while the thread count is undecided: the first items measure the candidates."""
        measured = []  # (fps, candidate threads, its runner)
        for threads in candidates:
            runner = self.runner(shape, "THROUGHPUT", threads)
            warmup = WARMUP_PASSES * runner.settings["requests_in_flight"]
            done, start = 0, time.perf_counter()
            for result in self._streamed(runner, itertools.islice(items, warmup + PROBE_FRAMES)):
                yield result  # the caller's work on each frame is part of what is timed
                done += 1
                if done == warmup:
                    start = time.perf_counter()
            if done < warmup + PROBE_FRAMES:
                return  # the source ended first: the choice waits for a longer one
            measured.append((PROBE_FRAMES / (time.perf_counter() - start), threads, runner))
        # All cores first; a later candidate replaces the choice only if faster beyond the margin.
        best = measured[0]
        for candidate in measured[1:]:
            if candidate[0] > best[0] * (1 + PROBE_MARGIN):
                best = candidate
        _, self._stream_threads, chosen = best
        self._threads_chosen = True
        with self._cache_lock:
            for _, threads, _ in measured:
                if threads != self._stream_threads:
                    self._runners.pop(self._runner_key(shape, "THROUGHPUT", threads), None)
        self.thread_probe = {"frames": PROBE_FRAMES, "fps": {str(r.settings["threads"]): f for f, _, r in measured},
                             "margin": PROBE_MARGIN, "threads": chosen.settings["threads"]}  # fmt: skip
        self.times.steady_from_now()  # steady fps: with the chosen threads, after the measuring
        yield from self._streamed(chosen, items)

    def _streamed(self, runner: Any, items: Iterator[tuple[Prepared, np.ndarray]]) -> Iterator[Any]:
        requests = runner.settings["requests_in_flight"]
        if not self.times.warmup_frames:  # the steady clock starts as a network-only one does
            self.times.warmup_frames = WARMUP_PASSES * requests
        yield from runner.stream(items, requests)

    # --- the pieces -------------------------------------------------------------------------------
    def prepare(self, frame: np.ndarray) -> Prepared:
        """A frame checked and made into its network input (which depends on the frame alone)."""
        check_frame(frame, "frame")
        if self.input_size == "letterbox":
            prepared = prepare(frame, "deploy", self.deploy_shape)
        else:
            prepared = prepare(frame, "native", self.deploy_shape, self.input_height)
        if self.tracker is not None:  # the scene-cut cue, made here: in `stream`, ahead in the read-ahead thread
            prepared = Cued(prepared.image, prepared.geometry, thumbnail(frame))
        return prepared

    def runner(self, input_hw: tuple[int, int] | None, performance_hint: str, threads: int | None = None) -> Any:
        """The network compiled for this input shape (ANY_SHAPE: for every shape), hint and thread
        count (None: the estimator's own, by default all cores): made once, the least recently used
        of more than MAX_SHAPES dropped."""
        from poseforge.runtime.bundle_runner import BundleRunner

        with self._cache_lock:  # held while compiling: two threads never compile one network twice
            key = self._runner_key(input_hw, performance_hint, threads)
            if key in self._runners:
                self._runners.move_to_end(key)
                return self._runners[key]
            shape = None if key[0] is ANY_SHAPE else (1, 3, *key[0])
            options = self.options.replace(shape=shape, performance_hint=performance_hint, threads=key[2])
            with self.times.compiling():
                runner = BundleRunner.from_bundle(self._read, options, str(self.path))
            hint = performance_hint == "THROUGHPUT"
            runner.settings["requests_in_flight"] = requests_in_flight(runner) if hint else 1
            self._runners[key] = runner
            while len(self._runners) > MAX_SHAPES:
                self._runners.popitem(last=False)  # a call still using it keeps its own reference
            return runner

    def _runner_key(self, input_hw: tuple[int, int] | None, performance_hint: str, threads: int | None) -> tuple:
        return None if input_hw is ANY_SHAPE else tuple(input_hw), performance_hint, threads or self.options.threads

    def _shape_of(self, input_hw: tuple[int, int]) -> tuple[int, int] | None:
        """The shape to compile for an input: its own if it is the first seen, else ANY_SHAPE. Which
        network runs a frame is a matter of speed only: both give the same outputs, bit for bit."""
        input_hw = tuple(input_hw)
        with self._cache_lock:
            if self._first_shape is None:
                self._first_shape = input_hw
            self._mixed |= input_hw != self._first_shape
        return input_hw if input_hw == self._first_shape else ANY_SHAPE

    def _finish(self, heatmaps: np.ndarray, pafs: np.ndarray, prepared: Prepared, timestamp: float | None) -> Poses:
        with self.times.stage("decode"):
            poses = decode(heatmaps[0], pafs[0], prepared.geometry, self.params)
            if self.min_score > 0:
                poses = poses.select(poses.scores >= self.min_score)
        if self.tracker is not None:
            with self.times.stage("track"):
                cut = isinstance(prepared, Cued) and self.cuts(prepared.thumbnail)
                ids = self.tracker.update(poses, cut=cut)
                if self.smoother is not None:
                    poses = self.smoother(poses, ids, self._time(timestamp))
                poses = dataclasses.replace(poses, track_ids=ids)
                if not self.tracker.params.emit_unconfirmed:
                    poses = poses.select(ids >= 0)
        self.times.frame_done()
        return poses

    @contextlib.contextmanager
    def _one_sequence(self, what: str) -> Iterator[None]:
        """A tracked estimator's frames form one sequence: an overlapping call or stream is refused."""
        if self.tracker is None:
            yield
            return
        if not self._sequence.acquire(blocking=False):
            raise PoseforgeError(f"{what} on a tracked estimator (track=True) while another call or stream is running "
                                 "on it: its tracker follows one sequence of frames; use one estimator per camera "
                                 "or thread")  # fmt: skip
        try:
            yield
        finally:
            self._sequence.release()

    def _tick(self, interval: float) -> float:
        return (self._clock or 0.0) + interval if self._clock is not None else 0.0

    def _check_increasing(self, timestamp: float) -> None:
        if self._clock is not None and not timestamp > self._clock:
            raise PoseforgeError(f"frame timestamps must increase: {timestamp} after {self._clock}")

    def _time(self, timestamp: float | None) -> float:
        """The frame's time: given (checked by `__call__` before the frame's work), or the next tick
        at the smoother's rate."""
        if timestamp is None:
            timestamp = self._tick(1 / self.smoother.params.freq) if self.smoother else 0.0
        self._clock = float(timestamp)
        return self._clock

    @property
    def settings(self) -> dict[str, Any]:
        """The runtime settings of the most recently used compiled shape (what a measurement records)."""
        with self._cache_lock:
            if not self._runners:
                return {}
            latest = next(reversed(self._runners.values())).settings
        return {**latest, "input_size": self.input_size, "input_height": self.input_height,
                "thread_probe": self.thread_probe, "precision_choice": self.precision_choice}  # fmt: skip

    def timings(self) -> dict[str, Any]:
        """Milliseconds per frame for each stage (median, p90) and end-to-end fps so far."""
        return self.times.summary()

    def close(self) -> None:
        with self._cache_lock:
            self._runners.clear()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_timestamp(timestamp: object) -> None:
    """A frame time must be a finite number of seconds: refused before it touches the clock."""
    if not (is_number(timestamp) and math.isfinite(timestamp)):
        raise PoseforgeError(f"timestamp must be a finite number of seconds, got {timestamp!r}")


def is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def thread_candidates() -> list[int | None]:
    """The thread counts a stream chooses between: all cores (None: the plugin's own split of them
    into streams) and one fewer, left to the Python stages."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return [None, cores - 1] if cores > 1 else [None]


def merge_decoder(defaults: DecoderParams, overrides: DecoderParams | dict[str, Any] | None) -> DecoderParams:
    """The bundle's decoder parameters with `overrides` (a DecoderParams, or some of its fields)."""
    return merge_params(defaults, overrides, "decoder")


def merge_params(defaults: Any, overrides: Any, what: str) -> Any:
    """A parameters dataclass `defaults` with `overrides` (one of its kind, or some of its fields
    by name); an unknown or invalid field is a one-line PoseforgeError."""
    if overrides is None:
        return defaults
    if isinstance(overrides, type(defaults)):
        return overrides
    if not isinstance(overrides, dict):
        raise PoseforgeError(f"{what} parameters: expected {type(defaults).__name__} or a dict, got "
                             f"{type(overrides).__name__}")  # fmt: skip
    known = {f.name for f in dataclasses.fields(defaults)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise PoseforgeError(f"unknown {what} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return dataclasses.replace(defaults, **overrides)
    except (TypeError, ValueError) as exc:
        raise PoseforgeError(f"{what} parameters: {exc}") from None

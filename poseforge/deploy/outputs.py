"""What predict writes into its output folder: drawn images or a drawn video, and two JSON files.

    poses.json      COCO keypoint results ([{image_id, category_id, keypoints, score, track_id}, ...])
    predict.json    what was run on what: bundle, input, image ids, skipped frames, fps, tracks
    <image names>   each input image with the skeletons drawn (--save drawn, for images), or
    <stem>.mp4      the drawn frames as one video (--save drawn for a video; --save video for any input)

--save poses writes the two JSON files only: nothing is drawn or encoded. A video is H.264
(yuv420p, faststart: what browsers play), encoded by the ffmpeg binary that the imageio-ffmpeg
package ships, fed raw yuv420p frames through a pipe by a thread of its own that also draws them:
drawing, conversion and encoding all run off predict's thread, which decodes the next frame
meanwhile. Without imageio-ffmpeg, OpenCV's MPEG-4 Part 2 (mp4v) is written, with
a note saying so. The folder is written under a temporary name and renamed into place when
complete; without -o it is the next free number under runs/predict/, created exclusively.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.decode import Poses
from poseforge.deploy.timing import StageTimes
from poseforge.documents import PREDICT, read_document
from poseforge.errors import PoseforgeError

POSES = "poses.json"
SUMMARY = "predict.json"
SCHEMA = PREDICT.schema
RUNS = Path("runs") / "predict"  # where a run without -o goes: RUNS/1, RUNS/2, ...
MAX_RUNS = 100_000
FALLBACK_FOURCC = "mp4v"
# x264's fastest preset, on one thread: the network has the cores, and a drawn preview needs no finer compression.
H264_PRESET = "ultrafast"
ENCODER_EXIT_SECONDS = 120  # the encoder finishing the file after its last frame
# Drawn frames waiting for the encoder, fed to its pipe by a thread of their own: predict's thread
# hands a frame over and goes on, instead of waiting until the encoder has read it.
QUEUED_FRAMES = 8
FEED_POLL_SECONDS = 0.1  # how often the feeder looks at its queue when no frame has come
# The encoder's pipe, where Linux lets it grow (an unprivileged process up to pipe-max-size, 1 MiB
# by default): a 640x480 frame then goes through in one write instead of eight 64 KiB turns, each a
# wake-up of the encoder and of the feeder.
PIPE_BYTES = 1 << 20
NO_H264 = ("imageio-ffmpeg is not installed: the video is MPEG-4 Part 2 (mp4v), which browsers do not play "
           "(pip install imageio-ffmpeg for H.264)")  # fmt: skip


def numbered_folder(runs: Path = RUNS) -> Path:
    """The first free number under `runs`, created here (exclusively: two runs never share one)."""
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PoseforgeError(f"cannot make {runs}: {exc.strerror}") from None
    for number in range(1, MAX_RUNS + 1):
        folder = runs / str(number)
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise PoseforgeError(f"cannot make {folder}: {exc.strerror}") from None
        return folder
    raise PoseforgeError(f"{runs} holds {MAX_RUNS} runs: give -o or clear it")


def read_summary(path: Path) -> dict[str, Any]:
    """An earlier predict.json: what tells poseforge that a folder is its own output to replace."""
    return read_document(path, PREDICT)


Draw = Callable[[np.ndarray, Poses], np.ndarray]  # a frame's pixels and poses -> the drawn frame


class ImageWriter:
    """Each drawn image under its input file name. `draw` draws a frame (timed as predict's draw
    stage); `times` takes the write stage."""

    draws = True
    codec = None
    notes: tuple[str, ...] = ()

    def __init__(self, directory: Path, draw: Draw, times: StageTimes) -> None:
        self.directory, self.draw, self.times = directory, draw, times
        self.files: list[str] = []

    def write(self, name: str, pixels: np.ndarray, poses: Poses) -> None:
        image = self.draw(pixels, poses)
        with self.times.stage("write"):
            self._write(name, image)

    def _write(self, name: str, image: np.ndarray) -> None:
        ok, encoded = cv2.imencode(Path(name).suffix, image)
        if not ok:
            raise PoseforgeError(f"cannot write {name}: OpenCV cannot encode this image format")
        (self.directory / name).write_bytes(encoded.tobytes())  # an OSError (disk full) is not lost
        self.files.append(name)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class PosesOnly:
    """--save poses: nothing drawn, nothing written but the two JSON files."""

    draws = False
    codec = None
    notes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.files: list[str] = []

    def write(self, name: str, pixels: np.ndarray, poses: Poses) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def h264_encoder() -> str | None:
    """The ffmpeg binary imageio-ffmpeg ships, or None without it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the package without its binary
        return None


class VideoWriter:
    """The drawn frames as one video at the input's frame rate, opened at the first frame's size:
    H.264 through ffmpeg where imageio-ffmpeg is installed, else OpenCV's mp4v (`notes` says so).
    With ffmpeg, frames are drawn (`draw`, timed as the draw stage) in the feeder thread; `times`
    takes the write stage (the hand-over, or OpenCV's encoding)."""

    draws = True

    def __init__(self, path: Path, fps: float, draw: Draw, times: StageTimes) -> None:
        self.path, self.fps, self.draw, self.times = path, fps, draw, times
        self.files = [path.name]
        self.encoder = h264_encoder()
        self.codec = "h264" if self.encoder else FALLBACK_FOURCC
        self.notes = () if self.encoder else (NO_H264,)
        self.encoder_cpu_seconds: float | None = None  # the encoder's CPU and its feeder's, once finished
        self.frames = 0
        self._process: Any = None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_FRAMES)
        self._aborting = threading.Event()
        self._feeder: threading.Thread | None = None
        self._feeder_cpu = 0.0
        self._broken = False  # the encoder stopped reading (it failed), or a frame could not be drawn
        self._draw_error: Exception | None = None
        self._log: Any = None
        self._opencv: Any = None
        self.size: tuple[int, int] = (0, 0)

    def write(self, name: str, pixels: np.ndarray, poses: Poses) -> None:
        if not self.frames:
            self.size = (pixels.shape[1], pixels.shape[0])
            self._open()
        if self._process is None:
            image = self._sized(self.draw(pixels, poses))
            with self.times.stage("write"):
                self._opencv.write(image)
        else:
            if self._broken:
                raise self._failure()
            with self.times.stage("write"):
                self._queue.put((pixels, poses))  # not changed after this: each frame is a new array
        self.frames += 1

    def _sized(self, image: np.ndarray) -> np.ndarray:
        if (image.shape[1], image.shape[0]) != self.size:  # a video's frames share one size
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        return image

    def _feed(self) -> None:
        """The feeder thread: queued frames drawn and fed into the encoder's pipe, until None. Each is
        converted to yuv420p here (OpenCV's BT.601 limited range, what ffmpeg's own conversion gives):
        half the bytes through the pipe and less of the encoder's time. Its CPU, drawing left out
        (the draw stage has it), is counted as the encoder's."""
        start, drawing = time.thread_time(), 0.0
        width, height = self.size
        pad_w, pad_h = width % 2, height % 2  # 4:2:0 needs even sides: a black column or row added
        try:
            while (frame := self._next_frame()) is not None:
                if self._broken:
                    continue  # drained, so that write() never waits on a queue nobody empties
                began = time.thread_time()
                try:
                    image = self._sized(self.draw(*frame))
                except Exception as exc:  # said by the next write() or close(), in predict's thread
                    self._draw_error, self._broken = exc, True
                    continue
                finally:
                    drawing += time.thread_time() - began
                try:
                    if pad_w or pad_h:
                        image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
                    self._process.stdin.write(memoryview(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)))
                except Exception:  # a broken pipe (the encoder ended), or a frame it cannot take
                    self._broken = True
        finally:
            self._feeder_cpu = time.thread_time() - start - drawing

    def _next_frame(self) -> tuple[np.ndarray, Poses] | None:
        """The next queued frame, None at the end. It looks again every FEED_POLL_SECONDS rather than
        trusting one wake-up: Ctrl-C raised in the main thread in the middle of a queue's put can lose
        the notification of a later one (seen here: the end-of-video None queued, the feeder asleep)."""
        while not self._aborting.is_set():
            with contextlib.suppress(queue.Empty):
                return self._queue.get(timeout=FEED_POLL_SECONDS)
        return None

    def _stop_feeder(self, aborting: bool = False) -> None:
        if self._feeder is not None:
            if aborting:
                self._aborting.set()  # the feeder ends at its next look, whatever the queue holds
            else:
                self._queue.put(None)
            self._feeder.join()
            self._feeder = None

    def _open(self) -> None:
        if self.encoder is None:
            self._opencv = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*FALLBACK_FOURCC), self.fps,
                                           self.size)  # fmt: skip
            if not self._opencv.isOpened():
                raise PoseforgeError(f"cannot write {self.path.name}: OpenCV has no {FALLBACK_FOURCC} video encoder")
            return
        width, height = self.size
        even = f"{width + width % 2}x{height + height % 2}"  # what the feeder sends: 4:2:0 needs even sides
        command = [self.encoder, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "rawvideo",
                   "-pix_fmt", "yuv420p", "-s", even, "-framerate", f"{self.fps:.6g}", "-i", "pipe:0",
                   "-an", "-c:v", "libx264", "-preset", H264_PRESET, "-threads", "1", "-pix_fmt", "yuv420p",
                   "-movflags", "+faststart", "-f", "mp4", str(self.path)]  # fmt: skip
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # the encoder's messages, closed by close() or abort()
        # Its own session: Ctrl-C in the terminal stops predict, which then ends the video itself.
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._log, start_new_session=True)  # fmt: skip
        _grow_pipe(self._process.stdin.fileno(), PIPE_BYTES)
        self._feeder = threading.Thread(target=self._feed, name="encoder-feed", daemon=True)
        self._feeder.start()

    def _failure(self) -> Exception:
        """The drawing's error, or the encoder's own last line after it has ended."""
        if self._draw_error is not None:
            return self._draw_error
        if self._process.returncode is None:
            self._finish_process(kill=True)
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read()[-4000:].decode(errors="replace").splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {self._process.returncode}"
        error = PoseforgeError(f"cannot write {self.path.name}: the H.264 encoder (ffmpeg) failed: {reason[:300]}")
        if any("No space left" in line for line in lines):  # a full disk: said as every full disk is
            error.__cause__ = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        return error

    def _finish_process(self, kill: bool = False) -> int:
        process = self._process
        if kill:
            process.kill()  # first: a feeder blocked on the pipe then fails at once
        self._stop_feeder(aborting=kill)
        with contextlib.suppress(OSError, ValueError):
            process.stdin.close()
        try:
            _, status, usage = _wait4(process.pid, ENCODER_EXIT_SECONDS)
        except TimeoutError:
            process.kill()
            _, status, usage = _wait4(process.pid, ENCODER_EXIT_SECONDS)
        process.returncode = os.waitstatus_to_exitcode(status)
        self.encoder_cpu_seconds = usage.ru_utime + usage.ru_stime + self._feeder_cpu
        return process.returncode

    def close(self) -> None:
        """Finish the video; an encoder that failed is one line naming the file."""
        if self._opencv is not None:
            self._opencv.release()
        running = self._process is not None and self._process.returncode is None
        if running and (self._finish_process() != 0 or self._broken):
            raise self._failure()
        if self._log is not None:
            self._log.close()

    def abort(self) -> None:
        """The run failed: stop the encoder (the temporary folder is removed by the caller)."""
        if self._opencv is not None:
            self._opencv.release()
        if self._process is not None and self._process.returncode is None:
            self._finish_process(kill=True)
        if self._log is not None:
            self._log.close()


def _grow_pipe(fd: int, size: int) -> None:
    """Ask for a pipe buffer of `size` bytes; where the system says no (another OS, a lower
    pipe-max-size), the pipe keeps its size: only the number of wake-ups changes."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, AttributeError, OSError):
        pass


def _wait4(pid: int, timeout: float) -> tuple[int, int, Any]:
    """os.wait4 with a time limit: (pid, status, resource usage) of the ended child."""
    deadline = time.monotonic() + timeout
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited:
            return waited, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(pid)
        time.sleep(0.01)


def track_summary(results: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Each track of poses.json's results (people with a track_id >= 0): its id, the image_id of
    the first and last frame it is in (a video's frame indices) and how many frames it is in;
    in id order."""
    tracks: dict[int, dict[str, int]] = {}
    for result in results:
        track, frame = result.get("track_id", -1), result["image_id"]
        if track < 0:
            continue
        if track not in tracks:
            tracks[track] = {"track_id": track, "first_frame": frame, "last_frame": frame, "frames": 0}
        entry = tracks[track]
        entry["first_frame"], entry["last_frame"] = min(entry["first_frame"], frame), max(entry["last_frame"], frame)
        entry["frames"] += 1
    return [tracks[track] for track in sorted(tracks)]

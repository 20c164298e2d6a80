"""The data directory, and fetching what belongs in it from official sources.

The data directory (`--data`, else `$POSEFORGE_DATA`, else `~/.cache/poseforge`) holds:
  omz/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.{xml,bin}
  coco-mini/val2017/*.jpg, coco-mini/annotations/person_keypoints_val2017.json   (79 val2017 images)
  coco-val/val2017/*.jpg, coco-val/annotations/person_keypoints_val2017.json     (138 val2017 images)
  coco-calib/train2017/*.jpg                                                     (367 train2017 images)
  val2017/val2017/*.jpg, val2017/annotations/person_keypoints_val2017.json       (all 5,000, on request)
  downloads/: the official zips the annotations come from, and interrupted downloads (*.part)
Files already there are used as they are (checked against their sha256); missing ones are downloaded
from the official URLs (an interrupted download resumes), sha256-checked, then renamed into place.
A fetch holds a lock on the data directory (`.poseforge-fetch.lock`): a second one waits for it,
then finds the files complete. Every download is bounded: by its expected size (the manifests pin
every file's size) and by an overall deadline that grows with that size, besides a timeout per read;
a `.part` file is never written through a link. Offline, every missing file of every requested set
is listed, one line each, with where it goes, then one error line.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import stat
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from poseforge.documents import loads, read_bytes
from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, lock_file, rename_new, sha256_file
from poseforge.text import plural, printable

DATA_ENV = "POSEFORGE_DATA"
DEFAULT_DATA = Path.home() / ".cache" / "poseforge"
WHERE_DATA = f"--data, else ${DATA_ENV}, else ~/.cache/poseforge; make's DATA="
TIMEOUT_S = 30  # per connection attempt and per read: a stalled server fails, a slow one does not
# A whole file's deadline: this long plus its size at this rate (a 160 KB image gets about a minute,
# the 816 MB val2017 zip about 7 hours): a server trickling bytes ends, a slow network does not.
DEADLINE_BASE_S = 60.0
MIN_RATE = 32 << 10  # bytes per second
MAX_UNSIZED_BYTES = 64 << 20  # a download whose size nobody pinned reads no more than this
FETCH_LOCK = ".poseforge-fetch.lock"
FETCH_LOCK_WAIT_S = 8 * 3600.0  # a second fetch waits for the first this long (val2017 on a slow network)
CHUNK = 1 << 20
IMAGE_WORKERS = 4  # a few parallel requests for sets of small images; polite to the COCO server
MAX_FAILURES = 3  # failed images reported one by one before a set gives up with a summary

_OMZ_BASE = (
    "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2021.2/models_bin/3/"
    "human-pose-estimation-0001/FP16-INT8/"
)
OMZ_DIR = "omz/human-pose-estimation-0001/FP16-INT8"


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the data directory
    url: str
    sha256: str
    size: int | None = None  # bytes, when known: checked against what the server offers


OMZ_FILES = (
    RemoteFile(
        f"{OMZ_DIR}/human-pose-estimation-0001.xml",
        _OMZ_BASE + "human-pose-estimation-0001.xml",
        "c3a47de94906e6b3256eb16af7274141b2fc9f6c7889a02d96ef430b9bc321d3",
        435357,
    ),
    RemoteFile(
        f"{OMZ_DIR}/human-pose-estimation-0001.bin",
        _OMZ_BASE + "human-pose-estimation-0001.bin",
        "fc7e9dde0f4a34876cfbbd266388a59526a8c8c1bc9394ce4827b7a007d20f82",
        4170036,
    ),
)

# The official COCO 2017 zips. Sizes and sha256 as pinned by tensorflow_datasets
# (tensorflow_datasets/url_checksums/coco2017.txt), the same values another project pins independently.
ANNOTATIONS_ZIP = RemoteFile(
    "downloads/annotations_trainval2017.zip",
    "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    "113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268",
    252907541,
)
VAL2017_ZIP = RemoteFile(
    "downloads/val2017.zip",
    "http://images.cocodataset.org/zips/val2017.zip",
    "4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05",
    815585330,
)
VAL2017_MEMBER = "annotations/person_keypoints_val2017.json"


@dataclass(frozen=True)
class Val2017Counts:
    """What the official person_keypoints_val2017.json holds: checked after unpacking."""

    images: int = 5000
    annotations: int = 11004  # every person of val2017
    keypoint_annotations: int = 6352  # those with at least one labelled keypoint


VAL2017_COUNTS = Val2017Counts()
MAX_MEMBER_BYTES = 32 << 20  # one image (the largest of val2017 is under 1 MB)
MAX_UNPACKED_BYTES = 2 << 30  # all images of an archive (val2017: 0.79 GB)
MAX_JSON_BYTES = 512 << 20  # one annotation file read from a zip (person_keypoints_val2017.json: 10 MB)
MAX_SUMS_BYTES = 1 << 20  # val2017/SHA256SUMS: 5,001 lines of about 100 bytes

# name -> packaged manifest (None: no manifest); `poseforge fetch --help` says what each is and how big
SETS: dict[str, str | None] = {
    "omz": None,
    "coco-mini": "coco_mini.json",
    "coco-val": "coco_val.json",
    "coco-calib": "coco_calib.json",
    "val2017": None,
}
ALL = ("omz", "coco-mini", "coco-val", "coco-calib")  # `fetch all`: the full val2017 only when asked


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(DATA_ENV) or DEFAULT_DATA)


def omz_ir(data: str | Path | None = None) -> Path:
    """The Open Model Zoo IR in the data directory, its .xml and .bin checked against their pinned
    sha256 (offline: nothing is downloaded): a file there under the official name is not trusted to
    be the release that reference-ir registers as Intel's, unmodified."""
    root = data_dir(data)
    for remote in OMZ_FILES:
        path = root / remote.path
        if not path.is_file():
            raise PoseforgeError(
                f"{path} not found: `poseforge fetch omz` downloads it (the data directory: {WHERE_DATA})"
            )
        _check_present(path, remote.sha256, remote.size, "the official file")
    return root / OMZ_FILES[0].path


def load_manifest(name: str) -> dict[str, Any]:
    """The packaged manifest of an image set (file names, ids, sha256), by set name."""
    file = SETS[name]
    if file is None:
        raise PoseforgeError(f"{name} has no manifest")
    return json.loads(resources.files("poseforge.manifests").joinpath(file).read_text())


def coco_mini_manifest() -> dict[str, Any]:
    return load_manifest("coco-mini")


def fetch(name: str, data: str | Path | None = None) -> Path:
    """Fetch one named set (a key of SETS) into the data directory; returns its folder."""
    return fetch_sets([name], data)[0]


class MissingFiles(PoseforgeError):
    """Files missing from the data directory that could not be downloaded: one line each saying
    what goes where (`lines`), and why the downloads failed (`reasons`)."""

    def __init__(self, lines: list[str], reasons: list[str]) -> None:
        super().__init__(f"{plural(len(lines), 'file')} missing: {reasons[0] if reasons else 'not downloaded'}")
        self.lines, self.reasons = lines, reasons


def fetch_sets(names: list[str] | tuple[str, ...], data: str | Path | None = None) -> list[Path]:
    """Fetch the named sets into the data directory, holding its lock (a second fetch waits for
    the first, then finds its files complete). Every file still missing at the end, of every set,
    is printed on its own line; then one error says how many and where the data directory is."""
    for name in names:
        if name not in SETS:
            raise PoseforgeError(f"unknown data set {name!r}: choose one of {', '.join(SETS)}")
    root = data_dir(data)
    made = [part for part in (root, *root.parents) if not os.path.lexists(part)]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PoseforgeError(f"cannot create the data directory {root} ({WHERE_DATA}): {exc.strerror}") from None
    busy = f"another poseforge fetch has been writing {root} for over {FETCH_LOCK_WAIT_S:.0f} s: try again later"
    lines: list[str] = []
    reasons: list[str] = []
    folders: list[Path] = []
    # A data directory this process cannot write (a read-only mount of the assets) needs no lock:
    # nothing will be written there; present files are still checked.
    writable = os.access(root, os.W_OK) and not os.statvfs(root).f_flag & os.ST_RDONLY
    waiting = f"waiting for another poseforge fetch into {root} to finish"
    lock = lock_file(root / FETCH_LOCK, busy, FETCH_LOCK_WAIT_S, lambda: _note(waiting), protects=root)
    try:
        with lock if writable else contextlib.nullcontext():
            for name in names:
                try:
                    folders.append(_fetch_set(name, data))
                except MissingFiles as exc:
                    lines += exc.lines
                    reasons += exc.reasons
    finally:
        for folder in made:  # offline into a new folder: no empty data directory is left behind
            with contextlib.suppress(OSError):
                folder.rmdir()
    if lines:
        lines = list(dict.fromkeys(lines))  # the annotations zip two sets are cut from is listed once
        for line in lines:
            _note(f"missing {line}")
        raise PoseforgeError(
            f"{plural(len(lines), 'file')} missing from the data directory {root} ({WHERE_DATA}), listed above: "
            f"{reasons[0] if reasons else 'not downloaded'}; put each at its path with that sha256, or run again "
            "with a network"
        )
    return folders


def _fetch_set(name: str, data: str | Path | None) -> Path:
    if name == "omz":
        return fetch_omz(data)[0].parent
    if name == "val2017":
        return fetch_val2017(data)
    return fetch_image_set(name, data)


def _note(line: str) -> None:
    print(printable(f"poseforge: {line}"), file=sys.stderr)


def _missing_line(path: Path, remote_sha: str, size: int | None, url: str) -> str:
    return f"{path} (sha256 {remote_sha}" + (f", {size} bytes" if size is not None else "") + f") from {url}"


# -- downloads ---------------------------------------------------------------------------------------------


class _Meter:
    """Progress of one or more downloads; the base class draws nothing."""

    def begin(self, done: int, total: int | None) -> None:
        """A transfer starts with `done` bytes already there (a resumed part) out of `total`."""

    def advance(self, n: int) -> None:
        pass


class _FileBar(_Meter):
    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task = bar, task

    def begin(self, done: int, total: int | None) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def advance(self, n: int) -> None:
        self.bar.advance(self.task, n)


class _SharedBar(_FileBar):
    """One bar for many files: resumed bytes count once, totals are the set's."""

    def begin(self, done: int, total: int | None) -> None:
        self.bar.advance(self.task, done)


@contextlib.contextmanager
def _byte_bar(enabled: bool, label: str, total: int | None, shared: bool = False) -> Iterator[_Meter]:
    """A bar with size, rate and ETA on stderr, or nothing when disabled."""
    if not enabled:
        yield _Meter()
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from poseforge.ui import console

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TextColumn("eta"), TimeRemainingColumn(), console=console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield (_SharedBar if shared else _FileBar)(bar, task)


def _progress_default(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def download(
    url: str, dest: str | Path, sha256: str | None = None, progress: bool | None = None, size: int | None = None
) -> Path:
    """Download `url` to `dest`: into `<dest>.part` first, resumed with a Range request if an earlier run was
    interrupted, then checked (`sha256`, `size`) and renamed, so `dest` only ever exists complete and checked.
    At most `size` bytes are read (MAX_UNSIZED_BYTES when it is not known), within `deadline_s(size)`."""
    dest = Path(dest)
    with _byte_bar(_progress_default(progress), dest.name, size) as meter:
        return _download(url, dest, sha256, size, meter)


def deadline_s(size: int | None) -> float:
    """How long one file may take in all: DEADLINE_BASE_S plus its size at MIN_RATE."""
    return DEADLINE_BASE_S + (size if size is not None else MAX_UNSIZED_BYTES) / MIN_RATE


class DownloadFailed(PoseforgeError):
    """A download that did not complete: the message says what to do, `reason` why, in a few words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _download(url: str, dest: Path, sha256: str | None, size: int | None, meter: _Meter) -> Path:
    part = dest.with_name(dest.name + ".part")
    note = f" (sha256 {sha256})" if sha256 else ""
    if part.is_symlink() or (part.exists() and not part.is_file()):
        raise DownloadFailed(
            f"{part} is a link or not a regular file: poseforge never writes through it; move it away",
            f"{part} is a link or not a regular file",
        )
    try:
        _fill_part(url, part, size, meter)
    except _Refused as exc:
        part.unlink(missing_ok=True)
        raise DownloadFailed(f"{exc}: refused, nothing written", str(exc)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, _Interrupted) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
            raise DownloadFailed(f"{part} became a link: poseforge never writes through it", "a link") from None
        reason = _reason(exc)
        kept = part.stat().st_size if part.is_file() and not part.is_symlink() else 0
        if kept:
            raise DownloadFailed(
                f"cannot download {url} ({reason}); {kept} bytes are kept in {part}: run again to resume, "
                f"or if this machine is offline, put that file at {dest}{note}",
                f"cannot download {url}: {reason}",
            ) from None
        if part.is_file() and not part.is_symlink():
            part.unlink()
        raise DownloadFailed(
            f"cannot download {url} ({reason}); if this machine is offline, put that file at {dest}{note}",
            f"cannot download {url}: {reason}",
        ) from None
    if sha256 and (got := sha256_file(part)) != sha256:
        part.unlink()  # a bad part must not be resumed
        message = f"downloaded {url} has sha256 {got}, expected {sha256}"
        raise DownloadFailed(f"{message}: refused, nothing written", message)
    try:
        rename_new(part, dest)  # never over anything that appeared at dest meanwhile
    except PoseforgeError as exc:
        raise DownloadFailed(str(exc), str(exc)) from None
    return dest


class _Refused(Exception):
    """The server offers something other than the expected file: retrying will not help."""


class _Interrupted(Exception):
    """The connection ended, or the deadline passed, before the whole file arrived."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc or type(exc).__name__)


def _open_part(part: Path, append: bool) -> int:
    """The .part file for writing: created or opened, never through a link (O_NOFOLLOW), never a
    pipe or device (O_NONBLOCK, then checked)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(part, flags | (os.O_APPEND if append else os.O_TRUNC), 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(part))
    return fd


def _fill_part(url: str, part: Path, size: int | None, meter: _Meter, retry: bool = True) -> None:
    """Bring `part` to the whole file: append from its end if the server answers a Range request with 206,
    start over if it answers 200 (the whole file). Reads stop at the expected size (or MAX_UNSIZED_BYTES)
    and at the file's deadline."""
    limit = deadline_s(size)
    deadline = time.monotonic() + limit
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset >= size:
        if offset == size:
            meter.begin(size, size)
            return  # complete: the caller checks it
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset and retry:  # the part is as long as the file or longer: start over once
            part.unlink()
            return _fill_part(url, part, size, meter, retry=False)
        raise
    with response:
        length = response.headers.get("Content-Length")
        if offset and getattr(response, "status", None) == 206 and _range_start(response) == offset:
            append = True
        elif getattr(response, "status", None) == 206:
            raise _Refused(f"{url} answers a request for bytes {offset}- with {response.headers.get('Content-Range')}")
        else:
            append, offset = False, 0
        total = offset + int(length) if length and length.isdigit() and len(length) < 19 else size
        if size is not None and total is not None and total != size:
            raise _Refused(f"{url} offers {total} bytes, expected {size}")
        most = total if total is not None else MAX_UNSIZED_BYTES
        meter.begin(offset, total)
        got = offset
        part.parent.mkdir(parents=True, exist_ok=True)  # only now: offline, no empty folders are left behind
        read = getattr(response, "read1", response.read)  # what has arrived, not a whole chunk: deadlines hold
        with open(_open_part(part, append), "ab" if append else "wb") as out:
            while block := read(min(CHUNK, most - got + 1)):
                out.write(block)
                got += len(block)
                meter.advance(len(block))
                if got > most:
                    what = "it announced" if total is not None else "any unsized download may have"
                    raise _Refused(f"{url} sends more than the {most} bytes {what}")
                if time.monotonic() > deadline:
                    raise _Interrupted(f"no complete file within {limit:.0f} s: {got} of {most} bytes arrived")
    if total is not None and got < total:
        raise _Interrupted(f"connection closed after {got} of {total} bytes")


def _range_start(response: Any) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (response.headers.get("Content-Range") or "").strip())
    return int(match.group(1)) if match else None


def ensure_file(remote: RemoteFile, data: str | Path | None = None, verify: bool = True) -> Path:
    """The file in the data directory: checked if present, downloaded if missing."""
    path = data_dir(data) / remote.path
    if path.is_file():
        if verify:
            _check_present(path, remote.sha256, remote.size, "the official file")
        return path
    return download(remote.url, path, remote.sha256, size=remote.size)


def _check_present(path: Path, sha256: str, size: int | None, what: str) -> None:
    """Refuse a present file that is not `what` (its size first: nothing larger is hashed)."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise PoseforgeError(f"{path} is {actual} bytes, expected {size} ({what}): delete it to download it again")
    if (got := sha256_file(path)) != sha256:
        raise PoseforgeError(f"{path} has sha256 {got}, expected {sha256} ({what}): delete it to download it again")


def _ensure_files(remotes: tuple[RemoteFile, ...], data: str | Path | None, label: str) -> list[Path]:
    """Every one of `remotes` in the data directory (present ones checked, missing ones downloaded);
    MissingFiles listing each one that could not be had."""
    root = data_dir(data)
    for remote in remotes:
        if (root / remote.path).is_file():
            _check_present(root / remote.path, remote.sha256, remote.size, "the official file")
    missing = [r for r in remotes if not (root / r.path).is_file()]
    jobs = [(r.url, root / r.path, r.sha256, r.size) for r in missing]
    failures = download_many(jobs, label) if jobs else []
    still = [r for r in missing if not (root / r.path).is_file()]
    if still:
        lines = [_missing_line(root / r.path, r.sha256, r.size, r.url) for r in still]
        raise MissingFiles(lines, failures or ["not downloaded"])
    return [root / remote.path for remote in remotes]


def fetch_omz(data: str | Path | None = None) -> list[Path]:
    return _ensure_files(OMZ_FILES, data, "omz: 2 files")


# -- image sets (coco-mini, coco-val, coco-calib) ----------------------------------------------------------


def fetch_coco_mini(data: str | Path | None = None) -> Path:
    """The 79 coco-mini images and their annotations, cut from the official val2017 archive."""
    return fetch_image_set("coco-mini", data)


def fetch_image_set(
    name: str, data: str | Path | None = None, image_url: str | None = None, progress: bool | None = None
) -> Path:
    """A packaged image set in `<data>/<name>`: present images checked (size, sha256) and kept, missing ones
    downloaded (a few at a time, one bar), then the annotations cut from the official zip if the set has any.
    `image_url` replaces the manifest's URL template (`{file_name}`), e.g. for a local mirror. Files that
    cannot be had are raised as MissingFiles, every one of them listed."""
    manifest = load_manifest(name)
    root = data_dir(data) / name
    folder = root / manifest.get("images_dir", "val2017")
    template = image_url or manifest["image_url"]
    missing, bad = [], []
    for image in manifest["images"]:
        path = folder / image["file_name"]
        if not path.is_file():
            missing.append(image)
        elif path.stat().st_size != image.get("size", path.stat().st_size) or sha256_file(path) != image["sha256"]:
            bad.append(path)
    if bad:
        raise PoseforgeError(
            f"{plural(len(bad), f'{name} image')} in the data directory "
            f"{'is not the official one' if len(bad) == 1 else 'are not the official ones'} (size or sha256), "
            f"e.g. {bad[0]}: delete them to download them again"
        )
    lines: list[str] = []
    failures: list[str] = []
    if missing:
        jobs = [(template.format(file_name=i["file_name"]), folder / i["file_name"], i["sha256"], i.get("size"))
                for i in missing]  # fmt: skip
        failures = download_many(jobs, f"{name}: {plural(len(jobs), 'image')}", progress)
        lines = [_missing_line(dest, sha, size, url) for url, dest, sha, size in jobs if not dest.is_file()]
    if "annotations_file" in manifest:
        if lines:  # offline: the annotations zip is listed as missing, not tried
            lines += _annotations_missing(manifest, root, data)
        else:
            try:
                _ensure_cut_annotations(manifest, root, data)
            except MissingFiles as exc:
                lines += exc.lines
                failures += exc.reasons
    if lines:
        raise MissingFiles(lines, failures or ["not downloaded"])
    return root


def _annotations_missing(manifest: dict[str, Any], root: Path, data: str | Path | None) -> list[str]:
    """The lines of a set's annotations that are not there yet: the official zip they are cut from (if
    it is missing too), and the file itself."""
    target = root / manifest["annotations_file"]
    if target.is_file():
        return []
    archive = data_dir(data) / ANNOTATIONS_ZIP.path
    lines = [] if archive.is_file() else [_missing_line(archive, ANNOTATIONS_ZIP.sha256, ANNOTATIONS_ZIP.size,
                                                        ANNOTATIONS_ZIP.url)]  # fmt: skip
    return [*lines, f"{target} (cut by poseforge from {archive} once that is there)"]


def download_many(jobs: list[tuple[str, Path, str, int | None]], label: str, progress: bool | None = None) -> list[str]:
    """Download (url, dest, sha256, size) jobs with a small thread pool and one bar; stop starting new ones after
    MAX_FAILURES failures, so that hundreds of images offline do not mean hundreds of timeouts.
    Returns why each failed download failed, in a few words (empty when everything arrived)."""
    sizes = [size for *_, size in jobs]
    total = None if None in sizes else sum(s or 0 for s in sizes)
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    with _byte_bar(_progress_default(progress), label, total, shared=True) as meter:

        def one(job: tuple[str, Path, str, int | None]) -> None:
            if stop.is_set():
                return
            url, dest, sha256, size = job
            try:
                _download(url, dest, sha256, size, meter)
            except DownloadFailed as exc:
                with lock:
                    failures.append(exc.reason)
                    if len(failures) >= MAX_FAILURES:
                        stop.set()

        pool = ThreadPoolExecutor(IMAGE_WORKERS, thread_name_prefix="poseforge-fetch")
        try:
            for future in as_completed([pool.submit(one, job) for job in jobs]):
                future.result()
        finally:
            stop.set()  # on Ctrl-C too: queued jobs return at once, running ones keep their .part
            pool.shutdown(wait=True, cancel_futures=True)
    return failures


def _ensure_cut_annotations(manifest: dict[str, Any], root: Path, data: str | Path | None) -> Path:
    """The set's annotation file: kept if present (sha256-checked when the manifest has one), else cut from the
    official annotations zip by image id and checked (count, ids, sha256) before it is written."""
    target = root / manifest["annotations_file"]
    expected = manifest.get("annotations_sha256")
    if target.is_file():
        if expected and (got := sha256_file(target)) != expected:
            raise PoseforgeError(
                f"{target} has sha256 {got}, expected {expected} (cut from the official annotations): "
                "delete it to cut it again"
            )
        return target
    try:
        archive = _ensure_files((ANNOTATIONS_ZIP,), data, "annotations zip")[0]
    except MissingFiles as exc:
        raise MissingFiles([*exc.lines, f"{target} (cut by poseforge from the file above once it is there)"],
                           exc.reasons) from None  # fmt: skip
    full = loads(read_member(archive, manifest["annotations_member"], MAX_JSON_BYTES), "annotations", archive)
    ids = [image["id"] for image in manifest["images"]]
    subset = cut_annotations(full, ids, by_id=manifest.get("annotations_order") == "id")
    name = manifest["name"]
    counts = [("annotations", len(subset["annotations"]), manifest["num_annotations"])]
    if "num_keypoint_annotations" in manifest:
        with_keypoints = sum(a.get("num_keypoints", 0) > 0 for a in subset["annotations"])
        counts.append(("annotations with keypoints", with_keypoints, manifest["num_keypoint_annotations"]))
    for what, got_count, want in counts:
        if got_count != want:
            raise PoseforgeError(
                f"{archive} gives {got_count} {what} for {name}, expected {want}: not the official val2017 archive"
            )
    if {image["id"] for image in subset["images"]} != set(ids):
        raise PoseforgeError(f"{archive} gives other images than {name} lists: not the official val2017 archive")
    text = json.dumps(subset)
    if expected and (got := hashlib.sha256(text.encode()).hexdigest()) != expected:
        raise PoseforgeError(
            f"the {name} annotations cut from {archive} have sha256 {got}, expected {expected}: "
            "refused, nothing written"
        )
    with atomic_output(target, new_only=True) as tmp:
        tmp.write_text(text)
    return target


def cut_annotations(full: dict[str, Any], image_ids: list[int], by_id: bool = False) -> dict[str, Any]:
    """The part of a COCO annotation file that concerns `image_ids`: same schema, same order, or with `by_id`
    images sorted by id and annotations by (image id, id), so that the bytes do not depend on the source order."""
    wanted = set(image_ids)
    missing = wanted - {image["id"] for image in full["images"]}
    if missing:
        raise PoseforgeError(f"the annotation file lacks {len(missing)} of the requested images, e.g. {min(missing)}")
    images = [image for image in full["images"] if image["id"] in wanted]
    annotations = [ann for ann in full["annotations"] if ann["image_id"] in wanted]
    if by_id:
        images.sort(key=lambda image: image["id"])
        annotations.sort(key=lambda ann: (ann["image_id"], ann["id"]))
    return {
        **{k: v for k, v in full.items() if k not in ("images", "annotations")},
        "images": images,
        "annotations": annotations,
    }


# -- the full val2017 ------------------------------------------------------------------------------------


def fetch_val2017(data: str | Path | None = None, progress: bool | None = None) -> Path:
    """The full official val2017 as `--coco` expects it: `<data>/val2017/val2017/*.jpg` and
    `<data>/val2017/annotations/person_keypoints_val2017.json`, unpacked from the two sha256-pinned zips.
    `<data>/val2017/SHA256SUMS`, written last, records every file so that later runs check without the zips."""
    root = data_dir(data) / "val2017"
    sums_path = root / "SHA256SUMS"
    if sums_path.is_file() and _check_sums(root, sums_path):
        return root
    try:
        annotations_zip, images_zip = _ensure_files((ANNOTATIONS_ZIP, VAL2017_ZIP), data, "val2017: 2 zips")
    except MissingFiles as exc:
        raise MissingFiles([*exc.lines, f"{root}/val2017/*.jpg and {root / VAL2017_MEMBER} (unpacked by poseforge "
                            "from the zips above once they are there)"], exc.reasons) from None  # fmt: skip
    images = unpack_images(images_zip, root / "val2017", "val2017", VAL2017_COUNTS.images, progress=progress)
    sums = {f"val2017/{name}": sha for name, sha in images.items()}
    sums[VAL2017_MEMBER] = _unpack_val2017_annotations(annotations_zip, root, set(images))
    text = "".join(f"{sha}  {rel}\n" for rel, sha in sorted(sums.items()))
    if not sums_path.is_file() or read_bytes(sums_path, "SHA256SUMS", MAX_SUMS_BYTES).decode(errors="replace") != text:
        with atomic_output(sums_path) as tmp:  # replaced only if poseforge wrote it (an earlier, partial unpack)
            tmp.write_text(text)
    return root


_SUMS_LINE = re.compile(
    r"([0-9a-f]{64})  (val2017/[A-Za-z0-9_-][A-Za-z0-9_.-]*\.jpg|" + re.escape(VAL2017_MEMBER) + ")"
)


def _check_sums(root: Path, sums_path: Path) -> bool:
    """True if every file SHA256SUMS lists is there with its sha256; False if some are missing (unpack again);
    an error if one differs (never replaced) or if SHA256SUMS is not one poseforge writes."""
    complete = True
    for line in read_bytes(sums_path, "SHA256SUMS", MAX_SUMS_BYTES).decode(errors="replace").splitlines():
        match = _SUMS_LINE.fullmatch(line)
        if match is None:
            raise PoseforgeError(f"{sums_path} holds {line[:80]!r}: not a list of val2017 files; move it away")
        sha, rel = match.groups()
        path = root / rel
        if not path.is_file():
            complete = False
        elif (got := sha256_file(path, max_bytes=MAX_JSON_BYTES)) != sha:
            raise PoseforgeError(
                f"{path} has sha256 {got}, expected {sha} (see {sums_path}): delete it to unpack it again"
            )
    return complete


def _unpack_val2017_annotations(archive: Path, root: Path, image_names: set[str]) -> str:
    data = read_member(archive, VAL2017_MEMBER, MAX_JSON_BYTES)
    full = loads(data, "annotations", archive)
    counts = VAL2017_COUNTS
    got = (
        len(full["images"]),
        len(full["annotations"]),
        sum(a.get("num_keypoints", 0) > 0 for a in full["annotations"]),
    )
    if got != (counts.images, counts.annotations, counts.keypoint_annotations):
        raise PoseforgeError(
            f"{archive}: {VAL2017_MEMBER} has {got[0]} images, {got[1]} annotations, {got[2]} with keypoints; expected "
            f"{counts.images}, {counts.annotations}, {counts.keypoint_annotations}: not the official annotations"
        )
    if {image["file_name"] for image in full["images"]} != image_names:
        raise PoseforgeError(f"{archive}: {VAL2017_MEMBER} lists other images than the val2017 zip holds")
    sha = hashlib.sha256(data).hexdigest()
    target = root / VAL2017_MEMBER
    if target.is_file():
        if (have := sha256_file(target, max_bytes=MAX_JSON_BYTES)) != sha:
            raise PoseforgeError(
                f"{target} has sha256 {have}, not that of {VAL2017_MEMBER} in {archive} ({sha}): delete it to unpack it"
            )
    else:
        with atomic_output(target, new_only=True) as tmp:
            tmp.write_bytes(data)
    return sha


def read_member(archive: Path, member: str, max_bytes: int) -> bytes:
    """One named member of a zip, refused if its declared size is over `max_bytes` (zipfile enforces the
    declared size and the CRC while reading)."""
    with zipfile.ZipFile(archive) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise PoseforgeError(f"{archive} has no {member}: not the official archive") from None
        if info.file_size > max_bytes:
            raise PoseforgeError(f"{archive}: {member} is {info.file_size} bytes, over the {max_bytes} allowed")
        return zf.read(info)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\.jpg")


def unpack_images(
    archive: str | Path,
    dest: str | Path,
    folder: str,
    expected: int | None = None,
    max_member: int = MAX_MEMBER_BYTES,
    max_total: int = MAX_UNPACKED_BYTES,
    progress: bool | None = None,
) -> dict[str, str]:
    """Unpack the `<folder>/<name>.jpg` members of a zip into `dest`; returns name -> sha256.

    Every member is checked before anything is written, and the whole archive is refused if one is anything
    but a plain image file in that folder (a link, an absolute path, `..`, a subfolder, another name, an
    oversized or encrypted file). Files already in `dest` are kept if identical, an error otherwise."""
    archive, dest = Path(archive), Path(dest)
    with zipfile.ZipFile(archive) as zf:
        members = _checked_members(zf, archive, folder, max_member, max_total)
        if expected is not None and len(members) != expected:
            raise PoseforgeError(f"{archive} holds {len(members)} {folder} images, expected {expected}: refused")
        sums: dict[str, str] = {}
        with _count_bar(_progress_default(progress), f"unpacking {archive.name}", len(members)) as step:
            for info in members:
                name = info.filename[len(folder) + 1 :]
                sums[name] = _unpack_member(zf, info, dest / name, archive, max_member)
                step()
    return sums


def _checked_members(
    zf: zipfile.ZipFile, archive: Path, folder: str, max_member: int, max_total: int
) -> list[zipfile.ZipInfo]:
    members, seen, total = [], set(), 0
    for info in zf.infolist():
        name = info.filename
        why = _refusal(info, folder, max_member)
        if why == "folder":
            continue
        if why is None and name in seen:
            why = "appears twice"
        if why:
            raise PoseforgeError(f"{archive}: member {name!r} {why}: refused, nothing unpacked")
        seen.add(name)
        total += info.file_size
        if total > max_total:
            raise PoseforgeError(f"{archive} unpacks to more than {max_total} bytes: refused, nothing unpacked")
        members.append(info)
    return members


def _refusal(info: zipfile.ZipInfo, folder: str, max_member: int) -> str | None:
    """Why a member may not be unpacked, "folder" for the folder entry itself, None for a plain image."""
    name = info.filename
    mode = info.external_attr >> 16
    if name.startswith("/") or "\\" in name or re.match(r"[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "leaves the folder (..)"
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if name == f"{folder}/" and info.is_dir():
        return "folder"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG) or info.is_dir():
        return "is not a plain file"
    parent, _, base = name.rpartition("/")
    if parent != folder or not _PLAIN_NAME.fullmatch(base):
        return f"is not a plain {folder}/<name>.jpg image"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.file_size > max_member:
        return f"is {info.file_size} bytes, over the {max_member} allowed for one image"
    return None


def _unpack_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path, max_member: int) -> str:
    digest = hashlib.sha256()
    if target.is_file():
        with zf.open(info) as source:
            while block := source.read(CHUNK):
                digest.update(block)
        if (have := sha256_file(target, max_bytes=max_member)) != digest.hexdigest():
            raise PoseforgeError(
                f"{target} has sha256 {have}, not that of {info.filename} in {archive}: delete it to unpack it again"
            )
        return have
    with atomic_output(target, new_only=True) as tmp, zf.open(info) as source, open(tmp, "wb") as out:
        written = 0
        while block := source.read(CHUNK):
            written += len(block)
            if written > max_member:
                raise PoseforgeError(f"{archive}: {info.filename} unpacks to more than {max_member} bytes: refused")
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _count_bar(enabled: bool, label: str, total: int) -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    from poseforge.ui import progress

    with progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


# -- checks ------------------------------------------------------------------------------------------------


def verify_data(data: str | Path | None = None) -> list[str]:
    """Problems with the files already present in the data directory (size or sha256 mismatches; the
    size first, so that nothing larger than expected is hashed)."""
    expected = {remote.path: (remote.sha256, remote.size) for remote in OMZ_FILES}
    for name, file in SETS.items():
        if file is None:
            continue
        manifest = load_manifest(name)
        folder = f"{name}/{manifest.get('images_dir', 'val2017')}"
        expected.update({f"{folder}/{i['file_name']}": (i["sha256"], i.get("size")) for i in manifest["images"]})
        if "annotations_sha256" in manifest:
            expected[f"{name}/{manifest['annotations_file']}"] = (manifest["annotations_sha256"], None)
    problems = []
    for rel, (sha, size) in expected.items():
        path = data_dir(data) / rel
        if not path.is_file():
            continue
        if size is not None and (actual := path.stat().st_size) != size:
            problems.append(f"{path}: {actual} bytes, expected {size}")
        elif (got := sha256_file(path, max_bytes=MAX_JSON_BYTES)) != sha:
            problems.append(f"{path}: sha256 {got}, expected {sha}")
    return problems

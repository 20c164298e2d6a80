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
Offline, a missing file is a one-line error saying what to put where.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import stat
import sys
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file

DATA_ENV = "POSEFORGE_DATA"
DEFAULT_DATA = Path.home() / ".cache" / "poseforge"
TIMEOUT_S = 30  # per connection attempt and per read: a stalled server fails, a slow one does not
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
    ),
    RemoteFile(
        f"{OMZ_DIR}/human-pose-estimation-0001.bin",
        _OMZ_BASE + "human-pose-estimation-0001.bin",
        "fc7e9dde0f4a34876cfbbd266388a59526a8c8c1bc9394ce4827b7a007d20f82",
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
    return data_dir(data) / OMZ_FILES[0].path


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
    if name == "omz":
        return fetch_omz(data)[0].parent
    if name == "val2017":
        return fetch_val2017(data)
    if name in SETS:
        return fetch_image_set(name, data)
    raise PoseforgeError(f"unknown data set {name!r}: choose one of {', '.join(SETS)}")


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


@contextmanager
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
    interrupted, then checked (`sha256`, `size`) and renamed, so `dest` only ever exists complete and checked."""
    dest = Path(dest)
    with _byte_bar(_progress_default(progress), dest.name, size) as meter:
        return _download(url, dest, sha256, size, meter)


def _download(url: str, dest: Path, sha256: str | None, size: int | None, meter: _Meter) -> Path:
    part = dest.with_name(dest.name + ".part")
    note = f" (sha256 {sha256})" if sha256 else ""
    try:
        _fill_part(url, part, size, meter)
    except _Refused as exc:
        part.unlink(missing_ok=True)
        raise PoseforgeError(f"{exc}: refused, nothing written") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, _Interrupted) as exc:
        reason = _reason(exc)
        kept = part.stat().st_size if part.is_file() else 0
        if kept:
            raise PoseforgeError(
                f"cannot download {url} ({reason}); {kept} bytes are kept in {part}: run again to resume, "
                f"or if this machine is offline, put that file at {dest}{note}"
            ) from None
        part.unlink(missing_ok=True)
        raise PoseforgeError(
            f"cannot download {url} ({reason}); if this machine is offline, put that file at {dest}{note}"
        ) from None
    if sha256 and (got := sha256_file(part)) != sha256:
        part.unlink()  # a bad part must not be resumed
        raise PoseforgeError(f"downloaded {url} has sha256 {got}, expected {sha256}: refused, nothing written")
    os.replace(part, dest)
    return dest


class _Refused(Exception):
    """The server offers something other than the expected file: retrying will not help."""


class _Interrupted(Exception):
    """The connection ended before the whole file arrived."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc or type(exc).__name__)


def _fill_part(url: str, part: Path, size: int | None, meter: _Meter, retry: bool = True) -> None:
    """Bring `part` to the whole file: append from its end if the server answers a Range request with 206,
    start over if it answers 200 (the whole file)."""
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
            mode = "ab"
        elif getattr(response, "status", None) == 206:
            raise _Refused(f"{url} answers a request for bytes {offset}- with {response.headers.get('Content-Range')}")
        else:
            mode, offset = "wb", 0
        total = offset + int(length) if length and length.isdigit() else size
        if size is not None and total is not None and total != size:
            raise _Refused(f"{url} offers {total} bytes, expected {size}")
        meter.begin(offset, total)
        got = offset
        part.parent.mkdir(parents=True, exist_ok=True)  # only now: offline, no empty folders are left behind
        with open(part, mode) as out:
            while block := response.read(CHUNK):
                out.write(block)
                got += len(block)
                meter.advance(len(block))
                if total is not None and got > total:
                    raise _Refused(f"{url} sends more than the {total} bytes it announced")
    if total is not None and got < total:
        raise _Interrupted(f"connection closed after {got} of {total} bytes")


def _range_start(response: Any) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (response.headers.get("Content-Range") or "").strip())
    return int(match.group(1)) if match else None


def ensure_file(remote: RemoteFile, data: str | Path | None = None, verify: bool = True) -> Path:
    """The file in the data directory: checked if present, downloaded if missing."""
    path = data_dir(data) / remote.path
    if path.is_file():
        if verify and (got := sha256_file(path)) != remote.sha256:
            raise PoseforgeError(
                f"{path} has sha256 {got}, expected {remote.sha256} (the official file): delete it to download it again"
            )
        return path
    return download(remote.url, path, remote.sha256, size=remote.size)


def fetch_omz(data: str | Path | None = None) -> list[Path]:
    return [ensure_file(remote, data) for remote in OMZ_FILES]


# -- image sets (coco-mini, coco-val, coco-calib) ----------------------------------------------------------


def fetch_coco_mini(data: str | Path | None = None) -> Path:
    """The 79 coco-mini images and their annotations, cut from the official val2017 archive."""
    return fetch_image_set("coco-mini", data)


def fetch_image_set(
    name: str, data: str | Path | None = None, image_url: str | None = None, progress: bool | None = None
) -> Path:
    """A packaged image set in `<data>/<name>`: present images sha256-checked and kept, missing ones downloaded
    (a few at a time, one bar), then the annotations cut from the official zip if the set has any.
    `image_url` replaces the manifest's URL template (`{file_name}`), e.g. for a local mirror."""
    manifest = load_manifest(name)
    root = data_dir(data) / name
    folder = root / manifest.get("images_dir", "val2017")
    template = image_url or manifest["image_url"]
    missing, bad = [], []
    for image in manifest["images"]:
        path = folder / image["file_name"]
        if not path.is_file():
            missing.append(image)
        elif sha256_file(path) != image["sha256"]:
            bad.append(path)
    if bad:
        raise PoseforgeError(
            f"{len(bad)} {name} image(s) differ from the official ones (sha256), e.g. {bad[0]}: "
            "delete them to download them again"
        )
    if missing:
        jobs = [
            (template.format(file_name=i["file_name"]), folder / i["file_name"], i["sha256"], i.get("size"))
            for i in missing
        ]
        failures = download_many(jobs, f"{name}: {len(jobs)} images", progress)
        if failures:
            still = sum(not (folder / i["file_name"]).is_file() for i in missing)
            if still == 1 and len(failures) == 1:
                raise PoseforgeError(failures[0])
            for line in failures[:MAX_FAILURES]:
                print(f"poseforge: {line}", file=sys.stderr)
            manifest_path = resources.files("poseforge.manifests").joinpath(str(SETS[name]))
            raise PoseforgeError(
                f"{still} of {len(manifest['images'])} {name} images are missing from {folder} and could not be "
                f"downloaded (first failures above); if this machine is offline, put them there: their names and "
                f"sha256 are in {manifest_path}"
            )
    if "annotations_file" in manifest:
        _ensure_cut_annotations(manifest, root, data)
    return root


def download_many(jobs: list[tuple[str, Path, str, int | None]], label: str, progress: bool | None = None) -> list[str]:
    """Download (url, dest, sha256, size) jobs with a small thread pool and one bar; stop starting new ones after
    MAX_FAILURES failures, so that hundreds of images offline do not mean hundreds of timeouts.
    Returns the failure messages (empty when everything arrived)."""
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
            except PoseforgeError as exc:
                with lock:
                    failures.append(str(exc))
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
    archive = ensure_file(ANNOTATIONS_ZIP, data)
    full = json.loads(read_member(archive, manifest["annotations_member"], MAX_JSON_BYTES))
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
    with atomic_output(target) as tmp:
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
    annotations_zip = ensure_file(ANNOTATIONS_ZIP, data)  # the smaller one first: offline fails at once
    images_zip = ensure_file(VAL2017_ZIP, data)
    images = unpack_images(images_zip, root / "val2017", "val2017", VAL2017_COUNTS.images, progress=progress)
    sums = {f"val2017/{name}": sha for name, sha in images.items()}
    sums[VAL2017_MEMBER] = _unpack_val2017_annotations(annotations_zip, root, set(images))
    text = "".join(f"{sha}  {rel}\n" for rel, sha in sorted(sums.items()))
    if not sums_path.is_file() or sums_path.read_text() != text:
        sums_path.unlink(missing_ok=True)  # ours (an earlier unpack), and only ever replaced by a complete one
        with atomic_output(sums_path) as tmp:
            tmp.write_text(text)
    return root


def _check_sums(root: Path, sums_path: Path) -> bool:
    """True if every file SHA256SUMS lists is there with its sha256; False if some are missing (unpack again);
    an error if one differs (never replaced)."""
    complete = True
    for line in sums_path.read_text().splitlines():
        sha, rel = line.split(maxsplit=1)
        path = root / rel
        if not path.is_file():
            complete = False
        elif (got := sha256_file(path)) != sha:
            raise PoseforgeError(
                f"{path} has sha256 {got}, expected {sha} (see {sums_path}): delete it to unpack it again"
            )
    return complete


def _unpack_val2017_annotations(archive: Path, root: Path, image_names: set[str]) -> str:
    data = read_member(archive, VAL2017_MEMBER, MAX_JSON_BYTES)
    full = json.loads(data)
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
        if (have := sha256_file(target)) != sha:
            raise PoseforgeError(
                f"{target} has sha256 {have}, not that of {VAL2017_MEMBER} in {archive} ({sha}): delete it to unpack it"
            )
    else:
        with atomic_output(target) as tmp:
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
        if (have := sha256_file(target)) != digest.hexdigest():
            raise PoseforgeError(
                f"{target} has sha256 {have}, not that of {info.filename} in {archive}: delete it to unpack it again"
            )
        return have
    with atomic_output(target) as tmp, zf.open(info) as source, open(tmp, "wb") as out:
        written = 0
        while block := source.read(CHUNK):
            written += len(block)
            if written > max_member:
                raise PoseforgeError(f"{archive}: {info.filename} unpacks to more than {max_member} bytes: refused")
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


@contextmanager
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
    """Problems with the files already present in the data directory (sha256 mismatches)."""
    expected = {remote.path: remote.sha256 for remote in OMZ_FILES}
    for name, file in SETS.items():
        if file is None:
            continue
        manifest = load_manifest(name)
        folder = f"{name}/{manifest.get('images_dir', 'val2017')}"
        expected.update({f"{folder}/{i['file_name']}": i["sha256"] for i in manifest["images"]})
        if "annotations_sha256" in manifest:
            expected[f"{name}/{manifest['annotations_file']}"] = manifest["annotations_sha256"]
    problems = []
    for rel, sha in expected.items():
        path = data_dir(data) / rel
        if path.is_file() and (got := sha256_file(path)) != sha:
            problems.append(f"{path}: sha256 {got}, expected {sha}")
    return problems

"""The data directory, and fetching what belongs in it from official sources.

The data directory (`--data`, else `$POSEFORGE_DATA`, else `~/.cache/poseforge`) holds:
  omz/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.{xml,bin}
  coco-mini/val2017/*.jpg, coco-mini/annotations/person_keypoints_val2017.json
Files already there are used as they are (checked against their sha256 by `poseforge fetch`);
missing ones are downloaded from the official URLs, sha256-checked, and written atomically.
Offline, a missing file is a one-line error saying what to put where.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file

DATA_ENV = "POSEFORGE_DATA"
DEFAULT_DATA = Path.home() / ".cache" / "poseforge"
TIMEOUT_S = 30

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


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(DATA_ENV) or DEFAULT_DATA)


def omz_ir(data: str | Path | None = None) -> Path:
    return data_dir(data) / OMZ_FILES[0].path


def coco_mini_manifest() -> dict[str, Any]:
    return json.loads(resources.files("poseforge.manifests").joinpath("coco_mini.json").read_text())


def download(url: str, dest: str | Path, sha256: str | None = None, progress: bool = True) -> Path:
    """Download `url` to `dest` atomically; with `sha256`, refuse a file whose checksum differs."""
    dest = Path(dest)
    with atomic_output(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
                _copy(response, out, int(response.headers.get("Content-Length") or 0), dest.name, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            note = f" (sha256 {sha256})" if sha256 else ""
            raise PoseforgeError(
                f"cannot download {url} ({reason}); if this machine is offline, put that file at {dest}{note}"
            ) from None
        if sha256 and (got := sha256_file(tmp)) != sha256:
            raise PoseforgeError(f"downloaded {url} has sha256 {got}, expected {sha256}: refused, nothing written")
    return dest


def _copy(source: Any, out: Any, total: int, label: str, progress: bool) -> None:
    if not progress:
        shutil.copyfileobj(source, out)
        return
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), transient=True) as bar:
        task = bar.add_task(label, total=total or None)
        while block := source.read(1 << 20):
            out.write(block)
            bar.advance(task, len(block))


def ensure_file(remote: RemoteFile, data: str | Path | None = None, verify: bool = True) -> Path:
    """The file in the data directory: checked if present, downloaded if missing."""
    path = data_dir(data) / remote.path
    if path.is_file():
        if verify and (got := sha256_file(path)) != remote.sha256:
            raise PoseforgeError(
                f"{path} has sha256 {got}, expected {remote.sha256} (the official file): delete it to download it again"
            )
        return path
    return download(remote.url, path, remote.sha256)


def fetch_omz(data: str | Path | None = None) -> list[Path]:
    return [ensure_file(remote, data) for remote in OMZ_FILES]


def fetch_coco_mini(data: str | Path | None = None) -> Path:
    """The 79 coco-mini images and their annotations, cut from the official val2017 archive."""
    manifest = coco_mini_manifest()
    root = data_dir(data) / "coco-mini"
    for image in manifest["images"]:
        ensure_file(
            RemoteFile(
                f"coco-mini/val2017/{image['file_name']}",
                manifest["image_url"].format(file_name=image["file_name"]),
                image["sha256"],
            ),
            data,
        )
    annotations = root / manifest["annotations_file"]
    if not annotations.is_file():
        archive = data_dir(data) / "downloads" / Path(manifest["annotations_url"]).name
        if not archive.is_file():
            download(manifest["annotations_url"], archive)
        with zipfile.ZipFile(archive) as zf, zf.open(manifest["annotations_member"]) as f:
            full = json.load(f)
        subset = cut_annotations(full, [image["id"] for image in manifest["images"]])
        if len(subset["annotations"]) != manifest["num_annotations"]:
            raise PoseforgeError(
                f"{archive} gives {len(subset['annotations'])} annotations for coco-mini, "
                f"expected {manifest['num_annotations']}: not the official val2017 archive"
            )
        with atomic_output(annotations) as tmp:
            tmp.write_text(json.dumps(subset))
    return root


def cut_annotations(full: dict[str, Any], image_ids: list[int]) -> dict[str, Any]:
    """The part of a COCO annotation file that concerns `image_ids`: same schema, same order."""
    wanted = set(image_ids)
    missing = wanted - {image["id"] for image in full["images"]}
    if missing:
        raise PoseforgeError(f"the annotation file lacks {len(missing)} of the requested images, e.g. {min(missing)}")
    return {
        **{k: v for k, v in full.items() if k not in ("images", "annotations")},
        "images": [image for image in full["images"] if image["id"] in wanted],
        "annotations": [ann for ann in full["annotations"] if ann["image_id"] in wanted],
    }


def verify_data(data: str | Path | None = None) -> list[str]:
    """Problems with the files already present in the data directory (sha256 mismatches)."""
    manifest = coco_mini_manifest()
    expected = {remote.path: remote.sha256 for remote in OMZ_FILES}
    expected.update({f"coco-mini/val2017/{i['file_name']}": i["sha256"] for i in manifest["images"]})
    problems = []
    for rel, sha in expected.items():
        path = data_dir(data) / rel
        if path.is_file() and (got := sha256_file(path)) != sha:
            problems.append(f"{path}: sha256 {got}, expected {sha}")
    return problems

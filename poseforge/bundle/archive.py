"""The bundle archive: a flat .tar.gz written reproducibly, read defensively.

Reading trusts nothing in the archive. Every member must be a regular file with a plain
top-level name (no absolute path, no `..`, no directory, no link or device); its bytes are
copied by poseforge into a private temporary directory (mode 0700), never extracted by
tarfile, so no member can land outside it or carry permissions, owners or links along. Then
every file is checked against the sha256 in bundle.json: a tampered, missing or extra file
refuses the whole bundle. Nothing in a bundle is executed or unpickled: it holds an XML
graph, raw weights and JSON.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from poseforge.documents import BUNDLE, loads
from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output

MANIFEST = "bundle.json"
MAX_BYTES = 4 << 30  # all members together: a bundle is one network, far below this
MAX_MEMBERS = 16  # a bundle has three; stop early on an archive of thousands
_CHUNK = 1 << 20


def write_archive(output: str | Path, files: dict[str, Path]) -> Path:
    """Write `files` (archive name -> path) as a .tar.gz, atomically.

    Members are sorted, with fixed owner, mode and time, and the gzip header has no time or
    name, so the same inputs give the same bytes.
    """
    with (
        atomic_output(output) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = files[name].stat().st_size
            info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, 0, "", ""
            with open(files[name], "rb") as f:
                tar.addfile(info, f)
    return Path(output)


class Bundle:
    """A bundle extracted into a private temporary directory and verified; `close()` removes it."""

    def __init__(self, archive: Path, directory: Path, manifest: dict[str, Any]) -> None:
        self.archive, self.directory, self.manifest = archive, directory, manifest

    @property
    def xml(self) -> Path:
        return self.directory / "model.xml"

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bundle(path: str | Path) -> Bundle:
    """Extract `path` into a private temporary directory and verify every file; any problem
    is a PoseforgeError naming the bundle and the offending member."""
    from poseforge.bundle.manifest import check_manifest

    path = Path(path)
    if not path.is_file():
        raise PoseforgeError(f"bundle not found: {path}")
    directory = Path(tempfile.mkdtemp(prefix="poseforge-bundle-"))  # 0700, ours alone
    try:
        digests = _extract(path, directory)
        manifest = _read_manifest(path, directory, digests)
        check_manifest(manifest, path)
        _check_files(path, manifest, digests)
        return Bundle(path, directory, manifest)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _extract(path: Path, directory: Path) -> dict[str, str]:
    """Copy every member's bytes into `directory`; return name -> sha256 of what was written."""
    digests: dict[str, str] = {}
    total = 0
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                name = _checked_name(path, member)
                if name in digests:
                    raise PoseforgeError(f"bundle {path.name}: member {name!r} appears twice")
                if len(digests) >= MAX_MEMBERS:
                    raise PoseforgeError(f"bundle {path.name}: more than {MAX_MEMBERS} members")
                total += member.size
                if total > MAX_BYTES:
                    raise PoseforgeError(f"bundle {path.name}: members exceed {MAX_BYTES} bytes")
                source = tar.extractfile(member)
                if source is None:  # defensive: regular members always have data
                    raise PoseforgeError(f"bundle {path.name}: member {name!r} has no data")
                digests[name] = _copy(source, directory / name)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise PoseforgeError(f"{path} is not a readable bundle (.tar.gz): {exc}") from None
    return digests


def _checked_name(path: Path, member: tarfile.TarInfo) -> str:
    name = member.name
    if member.issym() or member.islnk():
        raise PoseforgeError(f"bundle {path.name}: member {name!r} is a link; bundles hold regular files only")
    if not member.isreg():
        raise PoseforgeError(f"bundle {path.name}: member {name!r} is not a regular file")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise PoseforgeError(f"bundle {path.name}: member {name!r} has an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise PoseforgeError(f"bundle {path.name}: member {name!r} refers to a parent directory ('..')")
    if len(parts) != 1 or name in ("", ".") or "\0" in name:
        raise PoseforgeError(f"bundle {path.name}: member {name!r} is not a plain top-level file name")
    return name


def _copy(source: io.BufferedReader, target: Path) -> str:
    # O_EXCL | O_NOFOLLOW: never write through anything that already exists there.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        while block := source.read(_CHUNK):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _read_manifest(path: Path, directory: Path, digests: dict[str, str]) -> dict[str, Any]:
    if MANIFEST not in digests:
        raise PoseforgeError(f"bundle {path.name} has no {MANIFEST}")
    raw = (directory / MANIFEST).read_bytes()
    if len(raw) > BUNDLE.max_bytes:
        raise PoseforgeError(f"bundle {path.name}: {MANIFEST} is larger than any bundle's ({BUNDLE.max_bytes} bytes)")
    manifest = loads(raw, "JSON document", f"bundle {path.name}: {MANIFEST}")
    if not isinstance(manifest, dict):
        raise PoseforgeError(f"bundle {path.name}: {MANIFEST} is not a JSON object")
    return manifest


def _check_files(path: Path, manifest: dict[str, Any], digests: dict[str, str]) -> None:
    listed = manifest["files"]
    for name in sorted(listed):
        if name not in digests:
            raise PoseforgeError(f"bundle {path.name}: {name} is listed in {MANIFEST} but missing")
    for name in sorted(digests):
        if name != MANIFEST and name not in listed:
            raise PoseforgeError(f"bundle {path.name}: unexpected file {name!r}, not listed in {MANIFEST}")
    for name in sorted(listed):
        if digests[name] != listed[name]["sha256"]:
            raise PoseforgeError(
                f"bundle {path.name}: {name} does not match its sha256 in {MANIFEST} (tampered or corrupt)"
            )

"""Atomic file writes and checksums.

Every stage writes to a temporary name in the target's folder and renames it into place only
once complete, so an interrupted or failed stage never leaves a file that make thinks is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.errors import PoseforgeError


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_output(path: str | Path, *companions: str) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it (and companions) into place.

    `companions` are suffixes of files written alongside, e.g. ".bin" for an OpenVINO IR whose
    .xml is `path`: they are renamed first, so the main file appears last. On any failure,
    including KeyboardInterrupt, every temporary file is removed and nothing is renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last: tools such as OpenVINO derive the .bin name from the .xml one.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    companion_tmps = [tmp.with_suffix(suffix) for suffix in companions]
    try:
        yield tmp
        mode = 0o666 & ~_umask()  # mkstemp makes 0600 files; give them the usual mode
        for suffix, companion in zip(companions, companion_tmps, strict=True):
            os.chmod(companion, mode)
            os.replace(companion, path.with_suffix(suffix))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, *companion_tmps):
            leftover.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces `path` once the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 directories; give it the usual mode
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """JSON, written atomically; numpy scalars become plain numbers."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_json(path: str | Path, schema: str, kind: str) -> dict[str, Any]:
    """A poseforge JSON document of `schema`; one-line errors for missing, malformed or foreign files."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PoseforgeError(f"{kind} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseforgeError(f"{path} is not a valid {kind} ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        raise PoseforgeError(f"{path} is not a poseforge {kind} ({schema})")
    return data

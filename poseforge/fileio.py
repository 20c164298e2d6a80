"""Writing files and folders so that nothing is half-written and nothing the user owns is lost.

- Every output is written under a temporary name beside its target and renamed into place
  only once complete: an interrupted or failed stage never leaves a file that looks done.
  Several files that belong together (a report and its results) are renamed in one go, the
  one that names the others last.
- Ownership is decided by provenance, never by what a file holds: each folder poseforge
  writes into keeps a record, `.poseforge-outputs` (LEDGER), of the files it wrote
  there with their size and sha256 (and, for a folder output, of every file in it). An
  existing target is replaced only if that record holds its exact present content: a file
  poseforge did not write there, or one changed since (edited, re-packed, copied over), is
  the user's, whatever schema, mark or name it carries. A symlink, a folder, a device or the
  record itself is refused too; every refusal is one line, and leaves everything as it was.
  Files in a folder poseforge made for the run (`scratch_directory`, `output_directory`'s
  temporary folder) are its own; files that are only ever created, never replaced
  (`new_only`: the data directory's downloads), need no record. One kind is the user's by
  design and updated on purpose: the baseline (documents.Document.kept_by_user), replaced when
  it is a valid baseline, since `poseforge baseline` reads it first and keeps its tolerances.
- A folder output (`output_directory`) is replaced only if the record beside it lists it with
  exactly the files it holds, unchanged; it is locked against a second writer and swapped in
  atomically, so it is never absent. It may not be the working directory, an input, or a
  parent of an input.
- Lock files are created exclusively and hold an owner token; a lock file is removed only by
  the process whose token it holds (or, once its holder is gone, by the next poseforge): a
  file of that name that is not a poseforge lock is refused, never removed.
- Within one command (`command_files`, the CLI's), no output replaces a file the command reads
  (`reading`): named on its command line or reached through one (a report's results, an IR's
  .bin), whichever of the two is met first; what the command wrote itself it may read back.
- A full disk or a read-only place is a one-line error; the previous target stays intact.
Standard library only (plus numpy scalars in JSON): every part of poseforge uses it. The
record is read here with the bounds of poseforge/documents.py (size, duplicate keys, types),
not through it: documents.py writes its documents through this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from poseforge.errors import PoseforgeError

MARK = "poseforge"
# Notes for people reading an output; they decide nothing (the record does).
MARKDOWN_MARK = "<!-- written by poseforge: its command rewrites this file unless it has been edited -->"
PNG_MARK = {"Software": MARK}  # a PNG text chunk (matplotlib's savefig metadata writes it as tEXt)
# In each folder poseforge writes into: what it wrote there (JSON; no .json suffix, so that no
# reader's *.json glob, the gate's over reports/ say, takes it for a document of its own).
LEDGER = ".poseforge-outputs"
LEDGER_SCHEMA = "poseforge.outputs/1"
MAX_LEDGER_BYTES = 64 << 20
MAX_HASHED_BYTES = 4 << 30  # the largest file hashed where no tighter bound applies
LOCK_WAIT_S = 60.0  # a folder's record is locked only while files are renamed: far less than this
LOCK_PREFIX = b"poseforge lock\n"
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PRIVATE: set[Path] = set()  # folders made for this run (scratch, a folder output being written)


def sha256_file(
    path: str | Path, chunk: int = 1 << 20, *, max_bytes: int = MAX_HASHED_BYTES, what: str = "file"
) -> str:
    """The sha256 of a regular file, its size checked first: a file over `max_bytes` (a sparse
    file claiming terabytes, say) is refused before a byte is read."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
        stats = os.fstat(f.fileno())
        if not stat.S_ISREG(stats.st_mode):
            raise PoseforgeError(f"{path} is not a regular file, not a {what}")
        if stats.st_size > max_bytes:
            raise PoseforgeError(
                f"{path} is {stats.st_size} bytes: larger than any {what} ({max_bytes} bytes at most), not hashed"
            )
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- the record of what poseforge wrote (provenance) -------------------------------------------
def _private(folder: Path) -> bool:
    """True inside a folder poseforge made for this run: everything in it is its own."""
    if not _PRIVATE:
        return False
    resolved = folder.resolve()
    return any(part in _PRIVATE for part in (resolved, *resolved.parents))


@functools.lru_cache(maxsize=4096)
def _digest(path: str, signature: tuple[int, ...]) -> str:
    # `signature` (inode, size, mtime, ctime) changes with any write: a cached digest is never stale.
    return sha256_file(path)


def _entry(path: Path) -> dict[str, Any]:
    stats = os.lstat(path)
    signature = (stats.st_dev, stats.st_ino, stats.st_size, stats.st_mtime_ns, stats.st_ctime_ns)
    return {"sha256": _digest(str(path), signature), "bytes": stats.st_size}


def _same(path: Path, entry: Any) -> bool:
    """True if `path` is a regular file holding exactly what `entry` records (size first: no hashing
    of a file whose size already differs)."""
    if not isinstance(entry, dict) or "sha256" not in entry:
        return False
    try:
        stats = os.lstat(path)
        return stat.S_ISREG(stats.st_mode) and stats.st_size == entry["bytes"] and _entry(path) == entry
    except (OSError, PoseforgeError):
        return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a key appears twice")
    return data


def _file_record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"sha256", "bytes"}
        and isinstance(value["sha256"], str)
        and bool(_SHA256.fullmatch(value["sha256"]))
        and type(value["bytes"]) is int
        and 0 <= value["bytes"] < 1 << 62
    )


def _plain_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and "/" not in name
        and "\0" not in name
        and name not in (".", "..")
    )


def _valid_record(value: Any) -> bool:
    if _file_record(value):
        return True
    if not isinstance(value, dict) or set(value) != {"folder"} or not isinstance(value["folder"], dict):
        return False
    return all(_plain_name(name) and _file_record(entry) for name, entry in value["folder"].items())


def read_ledger(folder: str | Path) -> dict[str, Any]:
    """What poseforge recorded writing in `folder` (name -> {sha256, bytes}, or {folder: {...}} for a
    folder output); empty if there is no record. A record that is not poseforge's is an error."""
    path = Path(folder) / LEDGER
    problem = f"{path} is not poseforge's record of what it wrote in {Path(folder)}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PoseforgeError(f"{problem}: a symbolic link; move it away") from None
        raise PoseforgeError(f"cannot read {path}: {exc.strerror}") from None
    with open(fd, "rb") as f:
        stats = os.fstat(f.fileno())
        if not stat.S_ISREG(stats.st_mode) or stats.st_size > MAX_LEDGER_BYTES:
            raise PoseforgeError(f"{problem}: not a regular file of at most {MAX_LEDGER_BYTES} bytes; move it away")
        raw = f.read(MAX_LEDGER_BYTES + 1)
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_refuse)
    except (ValueError, RecursionError):
        raise PoseforgeError(f"{problem}: not valid JSON; move it away") from None
    files = data.get("files") if isinstance(data, dict) and data.get("schema") == LEDGER_SCHEMA else None
    if not isinstance(files, dict) or not all(_plain_name(n) and _valid_record(v) for n, v in files.items()):
        raise PoseforgeError(f"{problem} (schema {LEDGER_SCHEMA}); move it away")
    return files


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _recorded(path: Path) -> bool:
    """True if the record in `path`'s folder holds this file's exact present content."""
    return _same(path, read_ledger(path.parent).get(path.name))


# --- one command's inputs (no output of a command replaces a file it reads) --------------------
# While a command runs (`command_files`): the files it reads as inputs, named on its command line or
# reached through them (a report's results, an IR's .bin), with how it reaches each; the outputs it
# has claimed and not yet written; those it has written (its own, read back freely). An output may
# not be an input, whichever of the two comes first. Outside a command (the API), nothing is noted.
_COMMAND: dict[str, Any] = {}


@contextlib.contextmanager
def command_files() -> Iterator[None]:
    """The scope of one command: every `reading` and `claim` inside it is checked against the others."""
    _COMMAND.update(inputs={}, claimed={}, written=set())
    try:
        yield
    finally:
        _COMMAND.clear()


def _own_input(output: str | Path, how: str) -> PoseforgeError:
    return PoseforgeError(f"{output} is the command's own input ({how}): choose another output")


def reading(path: str | Path, how: str) -> Path:
    """`path`, noted as an input of the running command (`how` it reaches it: "--speed FILE", "the
    results REPORT names"); refused if it is an output the command has claimed. A file the command
    itself wrote earlier in the run is its own product, not an input."""
    path = Path(path)
    if _COMMAND:
        key = path.resolve()
        if key in _COMMAND["claimed"]:
            raise _own_input(_COMMAND["claimed"][key], how)
        if key not in _COMMAND["written"]:
            _COMMAND["inputs"].setdefault(key, how)
    return path


def check_not_an_input(path: Path, shown: str, owned: Callable[[Path], bool] | None = None) -> None:
    """Refuse `path` (shown as `shown`) if the running command reads it, unless `owned` accepts it (a
    document the command reads first and updates on purpose: the baseline)."""
    how = _COMMAND["inputs"].get(path.resolve()) if _COMMAND else None
    if how is not None and not (owned is not None and owned(path)):
        raise _own_input(shown, how)


def _claimed(path: Path, owned: Callable[[Path], bool] | None) -> None:
    if _COMMAND:
        if path.exists():  # an absent file replaces nothing
            check_not_an_input(path, str(path), owned)
        _COMMAND["claimed"][path.resolve()] = str(path)


def _written(paths: Sequence[Path]) -> None:
    if _COMMAND:
        for key in (path.resolve() for path in paths):
            _COMMAND["claimed"].pop(key, None)
            _COMMAND["written"].add(key)


def claim(path: str | Path, owned: Callable[[Path], bool] | None = None) -> Path:
    """`path` if poseforge may write it: absent, or a regular file that poseforge wrote there and
    that has not changed since (see LEDGER), or one `owned` accepts (a document the user keeps and
    a command updates on purpose: documents.Document.kept_by_user).

    Refuses (one line) a symlink, a directory or other non-file, a target under a file, the
    record itself, and any other file that the record of its folder does not hold as it is now.
    """
    path = Path(path)
    if path.is_symlink():
        raise PoseforgeError(f"{path} is a symbolic link: poseforge does not write through links; remove it first")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise PoseforgeError(f"cannot write {path}: {parent} is a file, not a folder")
        if parent.exists():
            break
    if path.name == LEDGER or path.name.startswith(".poseforge-outputs."):
        raise PoseforgeError(f"{path} is the name of poseforge's record of what it wrote: choose another output")
    _claimed(path, owned)
    if not path.exists():
        return path
    if not path.is_file():
        raise PoseforgeError(f"{path} exists and is not a regular file: poseforge writes files only")
    if not _private(path.parent) and not _recorded(path) and not (owned is not None and owned(path)):
        raise PoseforgeError(
            f"{path} exists and was not written by poseforge, or has changed since (no record of it as it is in "
            f"{path.parent / LEDGER}): not replaced; move it away or choose another output"
        )
    return path


def _new(path: Path) -> Path:
    """`path` if nothing is there (not even a link): for outputs that are only ever created."""
    claim(path)
    if path.exists():
        raise PoseforgeError(f"{path} exists: not replaced; move it away to write it again")
    return path


@contextlib.contextmanager
def _locked_folders(folders: Sequence[Path]) -> Iterator[None]:
    """Exclusive flocks on folders (their own descriptors, no lock file), in a fixed order so that
    two writers never wait for each other; held while records are read, files renamed, records written."""
    import fcntl

    descriptors: list[int] = []
    try:
        for folder in sorted(set(folders), key=str):
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            descriptors.append(fd)
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise PoseforgeError(
                            f"cannot lock {folder}: another process has held it for {LOCK_WAIT_S:.0f} s"
                        ) from None
                    time.sleep(0.01)
        yield
    finally:
        for fd in descriptors:
            os.close(fd)  # closing releases the flock


def _prepare_ledger(folder: Path, changes: dict[str, Any]) -> Path | None:
    """Write `folder`'s record with `changes` applied (None removes a name) under a temporary name, to
    be renamed into place by `_commit_ledger`. Entries whose file is gone are dropped. Call with the
    folder locked. None if the record would be empty (then it is removed)."""
    files = read_ledger(folder)
    files.update(changes)
    files = {name: entry for name, entry in files.items()
             if entry is not None and (name in changes or os.path.lexists(folder / name))}  # fmt: skip
    if not files:
        return None
    text = json.dumps({"schema": LEDGER_SCHEMA, "files": dict(sorted(files.items()))}, indent=1) + "\n"
    fd, name = tempfile.mkstemp(prefix=".poseforge-outputs.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(name, 0o666 & ~_umask())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _commit_ledger(folder: Path, prepared: Path | None) -> None:
    if prepared is not None:
        os.replace(prepared, folder / LEDGER)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / LEDGER)


def rename_new(source: Path, target: Path) -> None:
    """Rename onto a target that must not exist (never over anything that appeared meanwhile)."""
    appeared = PoseforgeError(f"{target} appeared while poseforge was writing it: not replaced; nothing written")
    try:
        if _renameat2(source, target, _RENAME_NOREPLACE):
            return
    except FileExistsError:
        raise appeared from None
    if os.path.lexists(target):
        raise appeared
    os.rename(source, target)


# --- atomic outputs ------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _space_problem(exc: BaseException, where: Path) -> PoseforgeError | None:
    """A one-line error for a full disk or a place that cannot be written, else None."""
    chain = [e for e in (exc, exc.__cause__, exc.__context__) if e is not None]
    codes = {getattr(e, "errno", None) for e in chain}
    if errno.ENOSPC in codes or errno.EDQUOT in codes or _disk_full(where) or "No space left" in str(exc):
        return PoseforgeError(f"no space left on the device holding {where}: nothing written, the previous state kept")
    # A permission problem is about the output only if it names no file, or a file in the output's folder
    # (compared as absolute paths: tempfile names its files so, whatever `where` is).
    names = [Path(os.path.abspath(f)) for e in chain if (f := getattr(e, "filename", None))]
    place = Path(os.path.abspath(where))
    here = not names or any(n.parent in (place.parent, place) for n in names)
    if errno.EROFS in codes and here:
        return PoseforgeError(f"cannot write {where}: read-only file system")
    if (errno.EACCES in codes or errno.EPERM in codes) and here:
        return PoseforgeError(f"cannot write {where}: permission denied")
    return None


def _write_failure(exc: BaseException, where: Path) -> PoseforgeError | None:
    """The one-line error a failed write becomes (a full disk, an unwritable place), else None.

    A stage's own one-line error stands, unless what it wraps is a full disk (the ONNX exporter's
    does). Call it before removing partial files: they are what shows that the disk is full.
    """
    if not isinstance(exc, Exception):
        return None
    if not isinstance(exc, PoseforgeError):
        return _space_problem(exc, where)
    chain, cause = [], exc.__cause__ or exc.__context__
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    full = any(isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) for e in chain)
    return _space_problem(chain[0], where) if full else None


def _disk_full(where: Path) -> bool:
    try:
        stats = os.statvfs(where if where.is_dir() else where.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < (64 << 10)


def _mkdir(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those it created (for `_remove_folders`)."""
    missing = []
    for part in (folder, *folder.parents):
        if part.exists() or part.is_symlink():
            break
        missing.append(part)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PoseforgeError(f"cannot write into {folder}: it exists and is not a folder") from None
    except NotADirectoryError:
        raise PoseforgeError(f"cannot create {folder}: a part of that path is a file") from None
    except OSError as exc:
        raise (_space_problem(exc, folder) or PoseforgeError(f"cannot create {folder}: {exc.strerror}")) from None
    return missing


def _remove_folders(folders: list[Path]) -> None:
    """Remove the folders a failed write created, deepest first, if they are (still) empty."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def atomic_outputs(
    *paths: str | Path,
    companions: Sequence[str] = (),
    new_only: bool = False,
    owned: Callable[[Path], bool] | None = None,
) -> Iterator[list[Path]]:
    """Yield temporary paths for `paths`; on success rename them all into place, in order, and
    record them (LEDGER) in their folders.

    Put the file that names the others last (a report naming its results by hash): a reader
    then never sees a new report beside old results. `companions` are suffixes of files
    written beside the LAST path (".bin" for an IR's .xml): renamed just before it. Every
    target is claimed first (`claim`, with `owned`), and again with its folder locked just
    before the renames; `new_only` targets must not exist at all, and are not recorded. On any
    failure, KeyboardInterrupt included, every temporary file is removed and nothing is renamed.
    """
    check = _new if new_only else (lambda target: claim(target, owned))
    targets = [check(Path(p)) for p in paths]
    last = targets[-1]
    beside = [check(last.with_suffix(suffix)) for suffix in companions]
    for folder in {t.parent for t in targets} if not new_only else ():
        if folder.is_dir() and not _private(folder):
            read_ledger(folder)  # a record that is not poseforge's is refused now, not after the work
    tmps: list[Path] = []
    leftovers: list[Path] = []  # every temporary file, removed on failure
    created: list[Path] = []
    try:
        for target in targets:
            created += _mkdir(target.parent)
            try:
                # Keep the real suffix last: OpenVINO derives the .bin name from the .xml one.
                fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp" + target.suffix, dir=target.parent)
            except OSError as exc:
                raise (_space_problem(exc, target) or PoseforgeError(f"cannot write {target}: {exc}")) from None
            os.close(fd)
            tmps.append(Path(name))
        companion_tmps = [tmps[-1].with_suffix(suffix) for suffix in companions]
        leftovers += [*tmps, *companion_tmps]
        yield list(tmps)
        # In rename order: the companions just before the last target.
        moves = [*zip(tmps[:-1], targets[:-1], strict=True), *zip(companion_tmps, beside, strict=True)]
        moves.append((tmps[-1], last))
        mode = 0o666 & ~_umask()  # mkstemp makes 0600 files; give them the usual mode
        changes: dict[Path, dict[str, Any]] = {}
        for tmp, target in moves:
            os.chmod(tmp, mode)
            if not new_only and not _private(target.parent):
                changes.setdefault(target.parent, {})[target.name] = _entry(tmp)
        with _locked_folders(list(changes)):
            for _, target in moves:
                check(target)  # still ours (a user may have put a file there meanwhile)
            records = {folder: _prepare_ledger(folder, entries) for folder, entries in changes.items()}
            leftovers += [record for record in records.values() if record is not None]
            for tmp, target in moves:
                if new_only or not os.path.lexists(target):
                    rename_new(tmp, target)
                else:
                    os.replace(tmp, target)
            for folder, record in records.items():
                _commit_ledger(folder, record)
        _written([target for _, target in moves])
    except BaseException as exc:
        problem = _write_failure(exc, last)  # before the clean-up: partial files show a full disk
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                leftover.unlink()
        _remove_folders(created)
        if problem is not None:
            raise problem from None
        raise


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *companions: str, new_only: bool = False, owned: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """One file (and its `companions`, e.g. ".bin" beside an IR's .xml), written atomically."""
    with atomic_outputs(path, companions=companions, new_only=new_only, owned=owned) as (tmp,):
        yield tmp


def create_new(files: Sequence[tuple[Path, bytes, int]], what: str) -> None:
    """Write each (path, data, mode) as a new file: never over anything that exists (a file, a link,
    a folder), all of them or none. Each is written under a temporary name, then hard-linked into
    place, which fails rather than replace (a second writer racing for the name included)."""
    for path, _, _ in files:
        if path.exists() or path.is_symlink():
            raise PoseforgeError(f"{path} exists: {what} never replaces one; choose another name")
    tmps: list[Path] = []
    placed: list[Path] = []
    created: list[Path] = []
    try:
        for path, data, mode in files:
            created += _mkdir(path.parent)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600
            tmps.append(Path(name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fchmod(f.fileno(), mode & ~_umask())
        for (path, _, _), tmp in zip(files, tmps, strict=True):
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise PoseforgeError(f"{path} exists: {what} never replaces one; choose another name") from None
            placed.append(path)
    except BaseException as exc:
        problem = _space_problem(exc, files[0][0]) if isinstance(exc, OSError) else None
        for path in [*placed, *tmps]:  # ours: linked from our own temporary files a moment ago
            with contextlib.suppress(OSError):
                path.unlink()
        _remove_folders(created)
        if problem is not None:
            raise problem from None
        raise
    for tmp in tmps:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def _private_folder(folder: Path) -> Iterator[Path]:
    """Mark a folder poseforge made for this run: what is written inside is its own, unrecorded."""
    resolved = folder.resolve()
    _PRIVATE.add(resolved)
    try:
        yield folder
    finally:
        _PRIVATE.discard(resolved)


@contextlib.contextmanager
def scratch_directory(near: str | Path) -> Iterator[Path]:
    """A private temporary folder beside `near` (same file system), removed afterwards; a full
    disk or an unwritable place inside it is a one-line error about `near`."""
    near = Path(near)
    created = _mkdir(near.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{near.name}.", suffix=".work", dir=near.parent))
    except OSError as exc:
        _remove_folders(created)
        raise (_space_problem(exc, near) or PoseforgeError(f"cannot write {near}: {exc}")) from None
    try:
        with _private_folder(tmp):
            yield tmp
    except BaseException as exc:
        problem = _write_failure(exc, near)  # before the clean-up: partial files show a full disk
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_folders(created)
        if problem is not None:
            raise problem from None
        raise
    shutil.rmtree(tmp, ignore_errors=True)


# --- JSON ------------------------------------------------------------------------------------------------
def finite_json(data: Any) -> Any:
    """A copy with every non-finite float as None (null: not measured), so that the JSON is strict."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite_json(v) for v in data]
    if hasattr(data, "item") and callable(data.item):  # numpy scalars
        return finite_json(data.item())
    if isinstance(data, Path):
        return str(data)
    return data


def png_with_text(png: bytes, text: dict[str, str] = PNG_MARK) -> bytes:
    """A PNG (as cv2.imencode makes it) with tEXt chunks after its header chunk, as matplotlib writes them."""
    import struct
    import zlib

    ihdr_end = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4  # signature, length + type, data, crc
    chunks = b""
    for key, value in text.items():
        body = b"tEXt" + key.encode("latin-1") + b"\0" + value.encode("latin-1")
        chunks += struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def json_text(data: Any) -> str:
    """Strict JSON (no NaN: null stands for not measured); numpy scalars become plain numbers."""
    return json.dumps(finite_json(data), indent=1, allow_nan=False) + "\n"


def write_json(path: str | Path, data: Any, owned: Callable[[Path], bool] | None = None) -> Path:
    with atomic_output(path, owned=owned) as tmp:
        tmp.write_text(json_text(data))
    return Path(path)


# --- folder outputs --------------------------------------------------------------------------------------------
def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """Linux renameat2; False where it is not available (then the caller falls back)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        rename = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if rename(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def _contents(folder: Path) -> set[str]:
    return {entry.name for entry in folder.iterdir()}


def check_earlier_output(folder: Path, manifest: str, read: Callable[[Path], dict[str, Any]]) -> list[str]:
    """The files of an earlier poseforge output in `folder` (to be replaced), or a PoseforgeError.

    It is one if it is empty, or if it holds `manifest` (readable by `read`, which checks its
    schema) and exactly the regular files that manifest lists, nothing else, and the record
    beside it (LEDGER in its parent) lists the folder with exactly these files, unchanged.
    """
    if folder.is_symlink():
        raise PoseforgeError(f"{folder} is a symbolic link: poseforge does not write through links")
    if not folder.is_dir():
        raise PoseforgeError(f"{folder} exists and is not a folder: choose another output")
    present = _contents(folder)
    if not present:
        return []
    refuse = f"{folder} exists and is not an earlier poseforge output"
    if manifest not in present:
        raise PoseforgeError(f"{refuse} (no {manifest}): nothing replaced; choose another output")
    try:
        listed = set(read(folder / manifest)["files"]) | {manifest}
    except PoseforgeError as exc:
        raise PoseforgeError(f"{refuse} ({exc}): nothing replaced") from None
    if present != listed:
        extra = sorted(present - listed)[:3]
        detail = f"it holds {', '.join(extra)} which its {manifest} does not list" if extra else "files are missing"
        raise PoseforgeError(f"{refuse}: {detail}; nothing replaced")
    for name in present:
        entry = folder / name
        if entry.is_symlink() or not entry.is_file():
            raise PoseforgeError(f"{refuse}: {name} is not a regular file; nothing replaced")
    record = read_ledger(folder.parent).get(folder.name)
    files = record.get("folder") if isinstance(record, dict) else None
    if not isinstance(files, dict) or set(files) != present:
        raise PoseforgeError(
            f"{refuse}: poseforge has no record of writing it ({folder.parent / LEDGER}); nothing replaced"
        )
    changed = sorted(name for name in present if not _same(folder / name, files[name]))
    if changed:
        raise PoseforgeError(f"{refuse}: {', '.join(changed[:3])} changed since poseforge wrote it; nothing replaced")
    return sorted(present)


def check_output_place(output: Path, inputs: Sequence[str | Path]) -> None:
    """Refuse an output folder that is the working directory, an input, or a parent of one."""
    out = output.resolve()
    if out == Path.cwd().resolve():
        raise PoseforgeError(f"-o {output} is the working directory: choose a new folder for the output")
    for source in inputs:
        src = Path(source).resolve()
        if out == src or out in src.parents:
            raise PoseforgeError(f"-o {output} holds the input {source}: choose a folder outside the input")


# --- lock files ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def lock_file(
    path: str | Path,
    busy: str,
    wait: float = 0.0,
    waiting: Callable[[], None] | None = None,
    protects: str | Path | None = None,
) -> Iterator[None]:
    """Hold the lock file `path` for the block.

    The file is created exclusively (O_EXCL, never through a link) holding an owner token, and
    flock-ed while held; afterwards it is removed only if it still is that file with that token.
    While another process holds it, wait up to `wait` seconds (calling `waiting` once), then
    PoseforgeError(`busy`). A poseforge lock whose holder is gone (killed) is replaced; a file of
    that name that is not a poseforge lock is refused and left as it is. An error creating it (a
    read-only place) names `protects`, what the lock is for, if given.
    """
    import fcntl
    import secrets
    import socket

    path = Path(path)
    token = LOCK_PREFIX + f"pid {os.getpid()} host {socket.gethostname()} {secrets.token_hex(16)}\n".encode()
    deadline, waited = time.monotonic() + wait, False
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    while True:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            fd = None
        except OSError as exc:  # a read-only or full place
            where = Path(protects) if protects is not None else path
            raise (_space_problem(exc, where) or PoseforgeError(f"cannot create {path}: {exc.strerror}")) from None
        if fd is not None:  # ours: locked before the token is in, so a reader that sees no token waits
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.write(fd, token) != len(token):
                    raise OSError(errno.ENOSPC, "the lock file's token was cut short", str(path))
            except OSError as exc:  # a full disk: the file just created is removed again
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(path)
                where = Path(protects) if protects is not None else path
                raise (_space_problem(exc, where) or PoseforgeError(f"cannot write {path}: {exc.strerror}")) from None
            break
        held = _existing_lock(path, flags)
        if held == "stale":
            continue  # removed: create ours
        if time.monotonic() >= deadline:
            raise PoseforgeError(busy if held == "held" else held)
        if waiting is not None and not waited:
            waiting()
        waited = True
        time.sleep(0.1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.lstat(path).st_ino == os.fstat(fd).st_ino and os.pread(fd, len(token) + 1, 0) == token:
                os.unlink(path)
        os.close(fd)


def _existing_lock(path: Path, flags: int) -> str:
    """What the lock file in the way is: "held" by a running poseforge, "stale" (a poseforge lock whose
    holder is gone: removed now), or a one-line refusal (not a poseforge lock: never removed)."""
    import fcntl

    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return "stale"  # gone meanwhile: try again
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symbolic link where poseforge keeps a lock: move it away"
        return f"cannot open the lock file {path}: {exc.strerror}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return f"{path} is not a regular file, where poseforge keeps a lock: move it away"
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held"
        content = os.pread(fd, 4096, 0)
        if not content:
            return "held"  # its creator is between creating and writing it: wait
        if not content.startswith(LOCK_PREFIX):
            return f"{path} exists and is not a poseforge lock: left as it is; move it away if it is yours"
        with contextlib.suppress(FileNotFoundError):
            if os.lstat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)  # a poseforge lock nobody holds: its holder was killed
        return "stale"
    finally:
        os.close(fd)


# --- folder outputs ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def output_directory(
    output: str | Path, manifest: str, read_manifest: Callable[[Path], dict[str, Any]], inputs: Sequence[str | Path]
) -> Iterator[Path]:
    """Yield a temporary folder that replaces `output` once the block completes.

    `output` must be new, empty, or an earlier output (`check_earlier_output`); it is locked
    while written (`.<name>.lock` beside it), and the finished folder is swapped in atomically
    (Linux renameat2), so `output` is never absent, and recorded in LEDGER beside it. Of the old
    folder, only the files poseforge recorded are removed.
    """
    output = Path(output)
    check_output_place(output, inputs)
    if output.exists() or output.is_symlink():
        check_earlier_output(output, manifest, read_manifest)
    created = _mkdir(output.parent)
    busy = f"{output} is being written by another poseforge: try again when it is done"
    try:
        with lock_file(output.parent / f".{output.name}.lock", busy, protects=output):
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
            except OSError as exc:
                raise (_space_problem(exc, output) or PoseforgeError(f"cannot write {output}: {exc}")) from None
            try:
                with _private_folder(tmp):
                    yield tmp
                os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; give it the usual mode
                _swap_in(tmp, output, manifest, read_manifest)
            except BaseException as exc:
                problem = _write_failure(exc, output)  # before the clean-up: partial files show a full disk
                shutil.rmtree(tmp, ignore_errors=True)
                if problem is not None:
                    raise problem from None
                raise
    except BaseException:
        _remove_folders(created)  # after the lock file is gone
        raise


def _swap_in(tmp: Path, output: Path, manifest: str, read_manifest: Callable[[Path], dict[str, Any]]) -> None:
    files = {}
    for entry in tmp.iterdir():
        if entry.is_symlink() or not entry.is_file():
            raise PoseforgeError(f"{output}: {entry.name} is not a regular file; nothing written")
        files[entry.name] = _entry(entry)
    with _locked_folders([output.parent]):
        old_files = []
        if os.path.lexists(output):
            old_files = check_earlier_output(output, manifest, read_manifest)  # again: still ours
        record = _prepare_ledger(output.parent, {output.name: {"folder": files}})
        try:
            if not old_files and not os.path.lexists(output):
                rename_new(tmp, output)
                old = None
            elif _renameat2(tmp, output, _RENAME_EXCHANGE):
                old = tmp  # now holds the previous output
            else:  # no atomic exchange here: the folder is absent between the two renames
                old = output.with_name(f".{output.name}.old.{os.getpid()}")
                os.rename(output, old)
                os.rename(tmp, output)
        except BaseException:
            if record is not None:
                with contextlib.suppress(OSError):
                    record.unlink()
            raise
        _commit_ledger(output.parent, record)
    if old is None:
        return
    for name in old_files:
        with contextlib.suppress(FileNotFoundError):
            (old / name).unlink()
    with contextlib.suppress(OSError):  # something appeared in it meanwhile: not ours to delete
        old.rmdir()

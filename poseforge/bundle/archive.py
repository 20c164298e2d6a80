"""The bundle archive: one canonical .tar.gz, written reproducibly, read strictly and with bounded work.

Writing: the members sorted by name (bundle.json first, bundle.sig next when signed, then the files
bundle.json lists), each behind a plain USTAR header with fixed owner, mode and time, in a single
gzip member with no name or time: the same inputs give the same bytes.

Reading trusts nothing and does no work the bundle's manifest has not asked for. The file must be
exactly that canonical form: the gzip header poseforge writes, one gzip member (its CRC and length
checked) and nothing after it; tar headers byte for byte those poseforge writes, zero padding and
the archive's end. A link, device, directory, sparse or extended header, a path, or a member twice
is refused by its header. bundle.json must come first: it is read into memory (bounded) and checked
(schema, listing, sizes); bundle.sig, if it follows, is checked next (and required when trusted keys
are given), before any other byte is read. Every other member must then be listed in bundle.json
with the size its header gives, so nothing unlisted, larger than listed or sparse is ever written:
the network files are copied by poseforge into a private temporary directory (mode 0700), never
extracted by tarfile, the reports kept in memory; each is checked against its sha256 as it ends, and
bundle.json's measured figures are derived again from the reports. Nothing is executed or unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from poseforge.bundle.manifest import NETWORK_FILES, carried_runs, check_manifest, check_reports, report_file
from poseforge.bundle.signature import check_signature
from poseforge.bundle.signature import trusted_keys as load_keys
from poseforge.documents import BUNDLE, loads, regular_file
from poseforge.documents import SIGNATURE as SIGNATURE_DOCUMENT
from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output

MANIFEST = "bundle.json"
SIGNATURE = "bundle.sig"
GZIP_LEVEL = 6  # zlib's default: level 9 makes a bundle 0.04% smaller in 45% more time
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no flags, no time, XFL 0 (level 6), OS unknown
_ZEROS = bytes(tarfile.BLOCKSIZE)
_CHUNK = 1 << 20


def _header(name: str, size: int) -> tarfile.TarInfo:
    """The header poseforge writes: a regular file, mode 0644, owner 0 without names, time 0 (TarInfo's defaults)."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _header_bytes(name: str, size: int) -> bytes:
    return _header(name, size).tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


def write_archive(output: str | Path, files: dict[str, Path | bytes]) -> Path:
    """Write `files` (archive name -> a path or the bytes themselves) as a .tar.gz, atomically."""
    with (
        atomic_output(output) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=GZIP_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8") as tar,
    ):
        for name in sorted(files):
            data = files[name]
            if isinstance(data, bytes):
                tar.addfile(_header(name, len(data)), io.BytesIO(data))
                continue
            with open(data, "rb") as f:
                tar.addfile(_header(name, os.fstat(f.fileno()).st_size), f)
    return Path(output)


@dataclass(frozen=True)
class Trust:
    """What a loaded bundle is: its digest, and who signed it."""

    digest: str  # sha256 of bundle.json's exact bytes: names the whole bundle (it lists every file's sha256)
    signer: str | None  # the fingerprint of the key whose signature verified; None: unsigned
    trusted_key: str | None  # the trusted key file it matched, when trusted keys were asked for

    def describe(self) -> str:
        """One line: what was verified, and what was not."""
        head = f"bundle sha256:{self.digest}"
        if self.signer is None:
            return f"{head}, unsigned: its files are the ones its bundle.json lists; who made it is not proved"
        if self.trusted_key is None:
            return f"{head}, signed by {self.signer} (not checked against a trusted key: --trust KEY.pub)"
        return f"{head}, signed by trusted key {self.signer} ({self.trusted_key})"

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "signed_by": self.signer, "trusted_key": self.trusted_key,
                "summary": self.describe()}  # fmt: skip


class Bundle:
    """A bundle extracted into a private temporary directory and verified; `close()` removes it.
    `sha256` is the archive's, of the very bytes verified (the file may be replaced since)."""

    def __init__(self, archive: Path, directory: Path, manifest: dict[str, Any], trust: Trust, sha256: str) -> None:
        self.archive, self.directory, self.manifest, self.trust = archive, directory, manifest, trust
        self.sha256 = sha256

    @property
    def xml(self) -> Path:
        return self.directory / "model.xml"

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bundle(path: str | Path, trusted_keys: Sequence[Any] | None = None) -> Bundle:
    """Verify `path` while copying its network into a private temporary directory; any problem is
    a PoseforgeError naming the bundle and the offending member. With `trusted_keys` (public key
    files or signature.PublicKey), a bundle not signed by one of them is refused."""
    path = Path(path)
    keys = None if trusted_keys is None else load_keys(trusted_keys)
    regular_file(path, "bundle")
    try:
        directory = Path(tempfile.mkdtemp(prefix="poseforge-bundle-"))  # 0700, ours alone
    except OSError as exc:
        raise _tmp_problem(exc, Path(tempfile.gettempdir()), path) from None
    try:
        try:
            with open(path, "rb") as f:
                raw = _Hashing(f)
                manifest, trust = _Reader(path, raw, directory, keys).read()
        except OSError as exc:  # reading the bundle itself: writing the copy has its own message
            raise PoseforgeError(f"cannot read bundle {path}: {exc.strerror or exc}") from None
        return Bundle(path, directory, manifest, trust, raw.digest.hexdigest())
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _tmp_problem(exc: OSError, directory: Path, path: Path) -> PoseforgeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PoseforgeError(f"no space left on the device holding {directory}: bundle {path.name} not loaded "
                              "(TMPDIR chooses where bundles are unpacked)")  # fmt: skip
    return PoseforgeError(f"cannot unpack bundle {path.name} into {directory}: {exc.strerror or exc}")


class _Hashing:
    """A file hashed as it is read: read once, to its end, it gives the sha256 of the bytes verified."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def read(self, n: int) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        return data


class _Gzip:
    """The one gzip member of a bundle, inflated as it is read, its header exactly GZIP_HEADER;
    `end()` refuses a second member or any byte after the first."""

    def __init__(self, raw: BinaryIO | _Hashing, where: str) -> None:
        self.raw, self.where = raw, where
        header = raw.read(len(GZIP_HEADER))
        if header[:2] != GZIP_HEADER[:2]:
            raise PoseforgeError(f"{where} is not a .tar.gz (no gzip header)")
        if header != GZIP_HEADER:
            raise PoseforgeError(f"{where}: its gzip header is not the one poseforge writes (no name, no time): "
                                 "changed, or not made by poseforge bundle")  # fmt: skip
        self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # the raw deflate stream; trailer checked below
        self.crc, self.size = 0, 0

    def read(self, n: int) -> bytes:
        """Up to `n` inflated bytes (fewer only at the end of the deflate stream)."""
        out: list[bytes] = []
        got = 0
        while got < n and not self.inflate.eof:
            data = self.inflate.unconsumed_tail or self.raw.read(_CHUNK)
            if not data:
                raise PoseforgeError(f"{self.where} is truncated (the gzip stream ends early)")
            try:
                piece = self.inflate.decompress(data, n - got)
            except zlib.error as exc:
                raise PoseforgeError(f"{self.where} is corrupt (gzip: {exc})") from None
            out.append(piece)
            got += len(piece)
        block = b"".join(out)
        self.crc, self.size = zlib.crc32(block, self.crc), self.size + len(block)
        return block

    def end(self) -> None:
        if self.read(1):
            raise PoseforgeError(f"{self.where}: data after the end of its tar archive")
        unused = self.inflate.unused_data
        trailer = unused[:8] + self.raw.read(max(0, 8 - len(unused)))
        if len(trailer) < 8:
            raise PoseforgeError(f"{self.where} is truncated (no gzip trailer)")
        crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
        if crc != self.crc or size != self.size & 0xFFFFFFFF:
            raise PoseforgeError(f"{self.where} is corrupt (its gzip checksum or length does not match)")
        after = unused[8:] + self.raw.read(1)
        if after:
            kind = "a second gzip member" if after[:1] == b"\x1f" else "bytes"
            raise PoseforgeError(f"{self.where}: {kind} after its gzip stream (a bundle is one stream and ends there)")


class _Reader:
    """One pass over a bundle: members read in order, each checked from its header before its bytes."""

    def __init__(self, path: Path, raw: BinaryIO | _Hashing, directory: Path, keys: list[Any] | None) -> None:
        self.path, self.directory, self.keys = path, directory, keys
        self.where = f"bundle {path.name}"
        self.gz = _Gzip(raw, self.where)
        self.seen: list[str] = []
        self.block = b""  # the last tar header read
        self.offset = 0  # of the inflated tar stream

    def read(self) -> tuple[dict[str, Any], Trust]:
        member = self._next()
        if member is None or member.name != MANIFEST:
            found = f" (its first member is {member.name!r})" if member is not None else ""
            raise PoseforgeError(f"{self.where} has no {MANIFEST} as its first member{found}")
        if member.size > BUNDLE.max_bytes:
            raise PoseforgeError(f"{self.where}: {MANIFEST} is {member.size} bytes, larger than any bundle's "
                                 f"({BUNDLE.max_bytes} bytes)")  # fmt: skip
        self._canonical(member)
        raw_manifest = self._data(member)

        # The signature, when there is one, is checked before bundle.json is even parsed.
        signer, trusted_key = None, None
        member = self._next()
        if member is not None and member.name == SIGNATURE:
            if member.size > SIGNATURE_DOCUMENT.max_bytes:
                raise PoseforgeError(f"{self.where}: {SIGNATURE} is {member.size} bytes, larger than any signature")
            self._canonical(member)
            key = check_signature(self._data(member), raw_manifest, self.keys, self.where)
            signer, trusted_key = key.fingerprint, (key.source if self.keys is not None else None)
            member = self._next()
        elif self.keys is not None:
            names = ", ".join(map(str, self.keys))
            raise PoseforgeError(f"{self.where} is not signed: a signature by a trusted key is required: {names}")

        manifest = loads(raw_manifest, "JSON document", f"{self.where}: {MANIFEST}")
        check_manifest(manifest, self.path)
        listed = manifest["files"]
        self._check_space(sum(listed[name]["bytes"] for name in NETWORK_FILES))
        protocols = {report_file(run): run for run in carried_runs(manifest["measured"])}
        reports: dict[str, bytes] = {}
        while member is not None:
            name = member.name
            if name not in listed:
                raise PoseforgeError(f"{self.where}: unexpected file {name!r}, not listed in {MANIFEST}")
            if member.size != listed[name]["bytes"]:
                raise PoseforgeError(f"{self.where}: member {name} is {member.size} bytes where {MANIFEST} lists "
                                     f"{listed[name]['bytes']}")  # fmt: skip
            self._canonical(member)
            if name in NETWORK_FILES:
                digest = self._copy(member, self.directory / name)
            else:
                reports[protocols[name]] = self._data(member)
                digest = hashlib.sha256(reports[protocols[name]]).hexdigest()
            if digest != listed[name]["sha256"]:
                raise PoseforgeError(f"{self.where}: {name} does not match its sha256 in {MANIFEST} (tampered or "
                                     "corrupt)")  # fmt: skip
            member = self._next()
        self._end()
        for name in sorted(listed):
            if name not in self.seen:
                raise PoseforgeError(f"{self.where}: {name} is listed in {MANIFEST} but missing")
        check_reports(manifest, reports, self.path)
        return manifest, Trust(hashlib.sha256(raw_manifest).hexdigest(), signer, trusted_key)

    # --- the tar stream --------------------------------------------------------------------------------------------
    def _next(self) -> tarfile.TarInfo | None:
        """The next member's header, checked; None at the archive's end."""
        block = self._inflated(tarfile.BLOCKSIZE, "inside a tar header")
        if block == _ZEROS:
            return None
        try:
            member = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise PoseforgeError(f"{self.where}: a damaged tar header at byte {self.offset - 512} ({exc})") from None
        name = _checked(self.where, member)
        if name in self.seen:
            raise PoseforgeError(f"{self.where}: member {name!r} appears twice")
        self.seen.append(name)
        self.block = block
        return member

    def _canonical(self, member: tarfile.TarInfo) -> None:
        if self.block != _header_bytes(member.name, member.size):
            raise PoseforgeError(f"{self.where}: the tar header of {member.name!r} is not the one poseforge writes "
                                 "(mode, owner, time or format changed)")  # fmt: skip

    def _inflated(self, n: int, what: str) -> bytes:
        data = self.gz.read(n)
        self.offset += len(data)
        if len(data) < n:
            raise PoseforgeError(f"{self.where} is truncated (its tar archive ends {what})")
        return data

    def _padding(self, size: int) -> None:
        pad = -size % tarfile.BLOCKSIZE
        if pad and self._inflated(pad, "inside a member's padding") != bytes(pad):
            raise PoseforgeError(f"{self.where}: bytes hidden in the padding after member {self.seen[-1]!r}")

    def _data(self, member: tarfile.TarInfo) -> bytes:
        data = self._inflated(member.size, f"inside {member.name}")
        self._padding(member.size)
        return data

    def _copy(self, member: tarfile.TarInfo, target: Path) -> str:
        """Copy a member's bytes to `target` (a new file: O_EXCL | O_NOFOLLOW); return their sha256."""
        digest, left = hashlib.sha256(), member.size
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as out:
                while left:
                    block = self._inflated(min(left, _CHUNK), f"inside {member.name}")
                    digest.update(block)
                    out.write(block)
                    left -= len(block)
        except OSError as exc:
            raise _tmp_problem(exc, self.directory.parent, self.path) from None
        self._padding(member.size)
        return digest.hexdigest()

    def _end(self) -> None:
        """Past the first zero block: the second, zeros up to a whole tar record, and the gzip stream's end."""
        end = -(-(self.offset + tarfile.BLOCKSIZE) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
        rest = end - self.offset
        if self._inflated(rest, "before its end-of-archive blocks") != bytes(rest):
            raise PoseforgeError(f"{self.where}: data after the end of its tar archive")
        self.gz.end()

    def _check_space(self, needed: int) -> None:
        with contextlib.suppress(OSError):
            stats = os.statvfs(self.directory)
            free = stats.f_bavail * stats.f_frsize
            if free < needed:
                raise PoseforgeError(
                    f"no space left on the device holding {self.directory.parent}: bundle {self.path.name} needs "
                    f"{needed / 1e6:.1f} MB there, {free / 1e6:.1f} MB are free (TMPDIR chooses where)"
                )


def _checked(where: str, member: tarfile.TarInfo) -> str:
    """A member's name, if its header is a regular file with a plain top-level name."""
    name = member.name
    if member.issym() or member.islnk():
        raise PoseforgeError(f"{where}: member {name!r} is a link; bundles hold regular files only")
    if member.type == tarfile.GNUTYPE_SPARSE:
        raise PoseforgeError(f"{where}: member {name!r} is a sparse file; bundles hold regular files only")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise PoseforgeError(f"{where}: member {name!r} is not a regular file")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise PoseforgeError(f"{where}: member {name!r} has an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise PoseforgeError(f"{where}: member {name!r} refers to a parent directory ('..')")
    if len(parts) != 1 or name in ("", ".") or "\0" in name:
        raise PoseforgeError(f"{where}: member {name!r} is not a plain top-level file name")
    return name

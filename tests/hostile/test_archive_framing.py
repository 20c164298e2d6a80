"""Class 9, archive framing: a bundle is exactly the .tar.gz poseforge writes, and nothing it does not
list costs anything. Bytes after the gzip stream, a second gzip member, another gzip header, data
after the tar archive's end or in a member's padding, a tar header other than poseforge's, an
extended, long-name or sparse header, bundle.json not first: each is refused with one line naming
the bundle. A member that is unlisted, sparse or larger than bundle.json lists is refused from its
header, before its bytes are read: the bytes this process writes while refusing are measured
(/proc/self/io), and TMPDIR is left empty.

Every case starts from the members of the session's real bundle (`made`)."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from poseforge.bundle import open_bundle
from poseforge.errors import PoseforgeError
from tests.bundle.made import Made
from tests.hostile.helpers import cli, members, refused

GIB = 1 << 30
Files = dict[str, bytes]


def header(name: str, size: int, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def tar_stream(files: Files, order: list[str] | None = None, fmt: int = tarfile.USTAR_FORMAT,
               headers: dict[str, tarfile.TarInfo] | None = None) -> bytes:  # fmt: skip
    """The tar archive of `files` (in `order`, default sorted), headers as poseforge writes them unless given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name in order or sorted(files):
            info = (headers or {}).get(name) or header(name, len(files[name]))
            tar.addfile(info, io.BytesIO(files[name]))
    return out.getvalue()


def member(name: str, data: bytes) -> bytes:
    """One member as poseforge writes it: its header, its data, zero padding to a whole block."""
    return tar_stream({name: data})[: 512 + len(data) + (-len(data) % 512)]


def gz(data: bytes) -> bytes:
    """One gzip member with the header poseforge writes (no name, no time), stored: quick. (Not
    gzip.compress: with mtime=0 it is zlib's header, which names the system.)"""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0, compresslevel=0) as g:
        g.write(data)
    return out.getvalue()


def named_gzip(data: bytes) -> bytes:
    """What `tarfile.open(path, "w:gz")` writes: a gzip header with the file name and the time."""
    out = io.BytesIO()
    with gzip.GzipFile("bundle.tar", mode="wb", fileobj=out, mtime=1_700_000_000, compresslevel=0) as g:
        g.write(data)
    return out.getvalue()


def members_only(files: Files) -> bytes:
    """Every member as poseforge writes it, without the archive's end."""
    return b"".join(member(name, files[name]) for name in sorted(files))


def pax_header(files: Files) -> tarfile.TarInfo:
    """model.bin's header with an owner name too long for USTAR: tarfile writes a pax header before it."""
    return header("model.bin", len(files["model.bin"]), uname="x" * 40)


def in_padding(files: Files) -> bytes:
    """The tar stream with one byte set in the zero padding after bundle.json's data."""
    stream = bytearray(tar_stream(files))
    size = len(files["bundle.json"])
    assert size % 512, "bundle.json fills its last block: no padding to hide a byte in"
    stream[512 + size] = ord("X")
    return bytes(stream)


def after_the_end(files: Files) -> bytes:
    extra = tar_stream({"payload.py": b"import os\n"})
    return tar_stream(files) + extra


FRAMINGS: dict[str, tuple[Callable[[Files], bytes], str]] = {
    "1 MB after the gzip stream": (lambda f: gz(tar_stream(f)) + bytes(1 << 20), "bytes after its gzip stream"),
    "a second gzip member": (
        lambda f: gz(tar_stream(f)) + gz(tar_stream({"payload.py": b"import os\n"})),
        "a second gzip member after its gzip stream",
    ),
    "a gzip header with a name and a time": (
        lambda f: named_gzip(tar_stream(f)),
        "its gzip header is not the one poseforge writes",
    ),
    "a gzip trailer of another checksum": (
        lambda f: (lambda b: b[:-8] + bytes([b[-8] ^ 1]) + b[-7:])(gz(tar_stream(f))),
        "is corrupt (its gzip checksum or length does not match)",
    ),
    "a tar member after the archive's end": (lambda f: gz(after_the_end(f)), "data after the end of its tar archive"),
    "a byte in a member's padding": (lambda f: gz(in_padding(f)), "bytes hidden in the padding after member"),
    "a tar header with a time and an owner": (
        lambda f: gz(tar_stream(f, headers={"model.bin": header("model.bin", len(f["model.bin"]), mtime=1, uid=1000)})),
        "the tar header of 'model.bin' is not the one poseforge writes",
    ),
    "a GNU tar header": (
        lambda f: gz(tar_stream(f, fmt=tarfile.GNU_FORMAT)),
        "the tar header of 'bundle.json' is not the one poseforge writes",
    ),
    "a pax extended header": (
        lambda f: gz(tar_stream(f, fmt=tarfile.PAX_FORMAT, headers={"model.bin": pax_header(f)})),
        "member '././@PaxHeader' is not a regular file",
    ),
    "a GNU long name": (
        lambda f: gz(members_only(f) + tar_stream({"m" * 120: b"x"}, fmt=tarfile.GNU_FORMAT)),
        "member '././@LongLink' is not a regular file",
    ),
    "bundle.json last": (
        lambda f: gz(tar_stream(f, order=[*(n for n in sorted(f) if n != "bundle.json"), "bundle.json"])),
        "has no bundle.json as its first member (its first member is 'model.bin')",
    ),
}


@pytest.fixture(scope="module")
def good(made: Made) -> Files:
    return members(made.bundle)


@pytest.mark.parametrize("case", list(FRAMINGS))
def test_a_bundle_framed_otherwise_is_refused(
    case: str, good: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame, message = FRAMINGS[case]
    bundle = tmp_path / "framed.tar.gz"
    bundle.write_bytes(frame(good))
    refused(cli(capsys, "verify", bundle), "framed.tar.gz", message)


def test_the_same_members_framed_as_poseforge_does_verify(
    good: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What each case above changes is the only reason it is refused."""
    bundle = tmp_path / "framed.tar.gz"
    bundle.write_bytes(gz(tar_stream(good)))
    assert cli(capsys, "verify", bundle).code == 0


# --- bounded work: members refused from their headers ------------------------------------------------------------
def zeros(size: int) -> Iterator[bytes]:
    chunk = bytes(1 << 20)
    for start in range(0, size, len(chunk)):
        yield chunk[: min(len(chunk), size - start)]


def write_bundle(path: Path, parts: list[tuple[tarfile.TarInfo, Callable[[], Iterator[bytes]]] | bytes]) -> Path:
    """A bundle whose tar stream is `parts` (a header and its data, or raw tar bytes), then the archive's
    end, compressed as poseforge does (level 6): a GiB of zeros takes 1 MB."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as out:
        written = 0
        for part in parts:
            if isinstance(part, bytes):
                out.write(part)
                written += len(part)
                continue
            info, data = part
            out.write(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"))
            for block in data():
                out.write(block)
            written += 512 + info.size + (-info.size % 512)
            out.write(bytes(-info.size % 512))
        out.write(bytes(-(written + 1024) % tarfile.RECORDSIZE + 1024))
    return path


def sparse_member(tmp: Path, fmt: str) -> bytes:
    """A 1 GiB sparse file as GNU tar archives it (--sparse): a header and a few blocks, no data."""
    (tmp / "payload.bin").touch()
    subprocess.run(["truncate", "-s", "1G", str(tmp / "payload.bin")], check=True)
    subprocess.run(["tar", "--sparse", f"--format={fmt}", "-cf", "sparse.tar", "payload.bin"], cwd=tmp, check=True)
    archive = (tmp / "sparse.tar").read_bytes()
    assert len(archive) < 64 << 10  # the archive holds the file's map, not its GiB
    return archive.rstrip(b"\0") + bytes(-len(archive.rstrip(b"\0")) % 512)


@pytest.fixture(scope="module")
def huge(good: Files, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Bundles that would cost a GiB or more if their members were read: name -> (bundle, refusal)."""
    root = tmp_path_factory.mktemp("huge")
    rest = [member(name, good[name]) for name in sorted(good) if name != "bundle.json"]
    head = member("bundle.json", good["bundle.json"])
    listed_gib = json.loads(good["bundle.json"])
    listed_gib["files"]["model.bin"]["bytes"] = 2 * GIB
    return {
        "an unlisted GiB of zeros": (
            write_bundle(root / "zeros.tar.gz", [head, (header("payload.bin", GIB), lambda: zeros(GIB)), *rest]),
            "unexpected file 'payload.bin', not listed in bundle.json",
        ),
        "model.bin's header claiming a GiB": (
            write_bundle(root / "claims.tar.gz", [head, (header("model.bin", GIB), lambda: zeros(GIB))]),
            f"member model.bin is {GIB} bytes where bundle.json lists {len(good['model.bin'])}",
        ),
        "a sparse GiB (GNU format)": (
            write_bundle(root / "sparse.tar.gz", [head, sparse_member(root, "gnu"), *rest]),
            "member 'payload.bin' is a sparse file",
        ),
        "a sparse GiB (pax format)": (
            write_bundle(root / "sparse-pax.tar.gz", [head, sparse_member(root, "pax"), *rest]),
            "is not a regular file",
        ),
        "bundle.json listing a model.bin of 2 GiB": (
            write_bundle(root / "listed.tar.gz", [member("bundle.json", json.dumps(listed_gib).encode()), *rest]),
            "bytes of files, more than any bundle",
        ),
    }


def written_bytes() -> int:
    """What this process has written so far, to any file (Linux /proc/self/io: wchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["an unlisted GiB of zeros", "model.bin's header claiming a GiB", "a sparse GiB (GNU format)",
     "a sparse GiB (pax format)", "bundle.json listing a model.bin of 2 GiB"],
)  # fmt: skip
def test_a_member_is_refused_from_its_header_before_its_bytes(
    case: str, huge: dict[str, tuple[Path, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, message = huge[case]
    assert bundle.stat().st_size < 10 << 20  # a GiB or more, in a few MB (7 of them the real network)
    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    before, start = written_bytes(), time.monotonic()
    with pytest.raises(PoseforgeError) as error:
        open_bundle(bundle)
    written, seconds = written_bytes() - before, time.monotonic() - start
    assert message in str(error.value) and bundle.name in str(error.value), error.value
    assert written < 64 << 10, f"{written} bytes written before refusing"
    assert seconds < 10 and list(system_tmp.iterdir()) == []


@pytest.mark.slow
def test_refusing_from_the_header_is_one_line(
    huge: dict[str, tuple[Path, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, message = huge["an unlisted GiB of zeros"]
    refused(cli(capsys, "verify", bundle), bundle.name, message)


def test_the_manifest_of_the_bounded_bundles_is_the_real_one(good: Files) -> None:
    """The bundles above carry the real bundle.json: what refuses them is the member, not the manifest."""
    manifest = json.loads(good["bundle.json"])
    assert set(manifest["files"]) == {n for n in good if n != "bundle.json"}

"""Loading a bundle trusts nothing in it: every refusal below is a real, hand-made bad archive."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from poseforge.bundle import open_bundle
from poseforge.errors import PoseforgeError
from tests.bundle.made import Made
from tests.conftest import run_cli

Member = tuple[tarfile.TarInfo, bytes | None]


def members_of(bundle: Path) -> list[Member]:
    with tarfile.open(bundle) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def write_tar(path: Path, members: list[Member]) -> Path:
    """`members` in this order, framed as poseforge frames bundles (gzip header without name or time,
    USTAR headers) but stored uncompressed: what is wrong with the archive is only what a case puts in."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def entry(name: str, data: bytes | None = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def replace(members: list[Member], name: str, new: Member | None) -> list[Member]:
    """`members` with `name` replaced by `new` in its place (or removed)."""
    return [(new if m[0].name == name else m) for m in members if m[0].name != name or new is not None]


def flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


def with_manifest(members: list[Member], change: Callable[[dict], None]) -> list[Member]:
    manifest = json.loads(dict((m.name, d) for m, d in members)["bundle.json"])
    change(manifest)
    return replace(members, "bundle.json", entry("bundle.json", json.dumps(manifest).encode()))


ESCAPE = f"poseforge-escape-{uuid.uuid4().hex}"  # a name that must never appear
MARKER = Path(tempfile.gettempdir()) / ESCAPE
HOOK = f"open({str(MARKER)!r}, 'w').write('executed')\n".encode()

CASES: dict[str, tuple[Callable[[list[Member]], list[Member]], str]] = {
    "tampered weights": (
        lambda ms: [(m, flip_a_byte(d) if m.name == "model.bin" else d) for m, d in ms],
        "model.bin does not match its sha256",
    ),
    "tampered graph": (
        lambda ms: [(m, d.replace(b"<net ", b"<nEt ") if m.name == "model.xml" else d) for m, d in ms],
        "model.xml does not match its sha256",
    ),
    "missing file": (lambda ms: replace(ms, "model.bin", None), "model.bin is listed in bundle.json but missing"),
    "extra file": (lambda ms: [*ms, entry("sitecustomize.py", HOOK)], "unexpected file 'sitecustomize.py'"),
    "extra file listed with its hash": (
        lambda ms: [
            *with_manifest(ms, lambda j: j["files"].update(run={"sha256": "0" * 64, "bytes": 1})),
            entry("run", HOOK),
        ],
        "report-val.json, run, not model.bin",  # what it lists (the reports it carries, then run), not what it needs
    ),
    "absolute path": (lambda ms: [*ms, entry(str(MARKER), HOOK)], "has an absolute path"),
    "parent directory": (lambda ms: [*ms, entry(f"../{ESCAPE}", HOOK)], "refers to a parent directory"),
    "nested path": (lambda ms: [*ms, entry("sub/model.xml")], "is not a plain top-level file name"),
    "symlink": (
        lambda ms: replace(ms, "model.bin", entry("model.bin", kind=tarfile.SYMTYPE, link="/etc/passwd")),
        "member 'model.bin' is a link",
    ),
    "hardlink": (
        lambda ms: replace(ms, "model.bin", entry("model.bin", kind=tarfile.LNKTYPE, link="bundle.json")),
        "member 'model.bin' is a link",
    ),
    "directory": (lambda ms: [entry("model.d", kind=tarfile.DIRTYPE), *ms], "'model.d' is not a regular file"),
    "fifo": (lambda ms: [*ms, entry("pipe", kind=tarfile.FIFOTYPE)], "'pipe' is not a regular file"),
    "device": (lambda ms: [*ms, entry("tty", kind=tarfile.CHRTYPE)], "'tty' is not a regular file"),
    "duplicate member": (lambda ms: [*ms, ms[-1]], "appears twice"),
    "thousands of members": (lambda ms: [*ms, *(entry(f"f{i}") for i in range(1000))], "unexpected file 'f0'"),
    "no manifest": (lambda ms: replace(ms, "bundle.json", None), "has no bundle.json as its first member"),
    "manifest not json": (
        lambda ms: replace(ms, "bundle.json", entry("bundle.json", b"{nope")),
        "bundle.json is not a valid JSON document",
    ),
    "other schema": (
        lambda ms: with_manifest(ms, lambda j: j.update(schema="poseforge.bundle/3")),
        "is not a poseforge bundle.json (poseforge.bundle/2): schema 'poseforge.bundle/3'",
    ),
    "a bundle of schema 1": (
        lambda ms: with_manifest(ms, lambda j: j.update(schema="poseforge.bundle/1")),
        "bundle.json is poseforge.bundle/1, made by an older poseforge",
    ),
}


@pytest.fixture
def system_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The temporary directory bundles are extracted under, for this test alone."""
    root = tmp_path / "system-tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture(scope="module")
def good(made: Made) -> list[Member]:
    return members_of(made.bundle)


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_bundle_is_refused_whole(case: str, good: list[Member], tmp_path: Path, system_tmp: Path) -> None:
    mutate, message = CASES[case]
    bad = write_tar(tmp_path / "bad.tar.gz", mutate(good))
    with pytest.raises(PoseforgeError, match=r"bad\.tar\.gz") as error:
        open_bundle(bad)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert list(system_tmp.iterdir()) == []  # the private copy is gone, nothing escaped beside it
    assert not MARKER.exists()  # nothing written at an absolute path, nothing executed


def test_a_bundle_larger_than_the_limit_is_refused(made: Made, monkeypatch: pytest.MonkeyPatch) -> None:
    from poseforge.bundle import manifest

    monkeypatch.setattr(manifest, "MAX_BYTES", 1 << 20)  # the real limit, 1 GiB, is too big to test
    with pytest.raises(PoseforgeError, match="bytes of files, more than any bundle"):
        open_bundle(made.bundle)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a tarball at all", "is not a .tar.gz"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 64, "gzip header is not the one poseforge writes"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\x00" * 64, "is corrupt (gzip"),
    ],
)
def test_a_file_that_is_no_tar_gz_is_refused(content: bytes, message: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(content)
    with pytest.raises(PoseforgeError, match=r"bad\.tar\.gz") as error:
        open_bundle(bad)
    assert message in str(error.value)


def test_a_truncated_bundle_is_refused(made: Made, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(made.bundle.read_bytes()[: made.bundle.stat().st_size // 2])
    with pytest.raises(PoseforgeError, match=r"bad\.tar\.gz is truncated"):
        open_bundle(bad)


def test_extraction_goes_to_a_private_temporary_directory(made: Made, system_tmp: Path) -> None:
    with open_bundle(made.bundle) as bundle:
        directory = bundle.directory
        assert directory.parent == system_tmp and directory.name.startswith("poseforge-bundle-")
        assert directory.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in directory.iterdir()) == ["model.bin", "model.xml"]  # reports stay in memory
        assert all(p.stat().st_mode & 0o777 == 0o600 and not p.is_symlink() for p in directory.iterdir())
    assert not directory.exists()


def test_validate_and_predict_refuse_a_tampered_bundle(made: Made, assets: Path, tmp_path: Path) -> None:
    mutate, message = CASES["tampered weights"]
    bad = write_tar(tmp_path / "bad.tar.gz", mutate(members_of(made.bundle)))
    coco = assets / "coco-mini"
    result = run_cli("validate", str(bad), "--coco", str(coco), "--protocol", "deploy", "--no-speed", "-o",
                     str(tmp_path / "r.json"))  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    out = tmp_path / "out"
    result = run_cli("predict", str(bad), str(coco / "val2017"), "-o", str(out))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not out.exists() and not (tmp_path / "r.json").exists()

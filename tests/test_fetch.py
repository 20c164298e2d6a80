"""The data directory and downloads: sha256-checked, atomic, and clear when offline. No network."""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import re
import stat
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from poseforge import fetch
from poseforge.errors import PoseforgeError
from poseforge.fetch import RemoteFile, cut_annotations, download, ensure_file
from tests.conftest import run_cli

OFFLINE_URL = "http://127.0.0.1:9/human-pose-estimation-0001.xml"  # discard port: refused at once


def test_download_checks_sha256(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"official bytes")
    good = hashlib.sha256(b"official bytes").hexdigest()
    dest = download(source.as_uri(), tmp_path / "data" / "file.bin", good, progress=False)
    assert dest.read_bytes() == b"official bytes"
    with pytest.raises(PoseforgeError, match=r"expected 0{64}: refused, nothing written"):
        download(source.as_uri(), tmp_path / "data" / "other.bin", "0" * 64, progress=False)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["file.bin"]


def test_offline_says_which_file_to_put_where(tmp_path: Path) -> None:
    remote = RemoteFile("omz/model.xml", OFFLINE_URL, "a" * 64)
    with pytest.raises(PoseforgeError) as info:
        ensure_file(remote, tmp_path)
    message = str(info.value)
    assert OFFLINE_URL in message and str(tmp_path / "omz" / "model.xml") in message and "a" * 64 in message
    assert not (tmp_path / "omz").exists() or not any((tmp_path / "omz").iterdir())


def offline_env(data: Path) -> dict[str, str]:
    """A dead proxy makes this machine offline for a child process, whatever the network."""
    dead = "http://127.0.0.1:9"
    return {"POSEFORGE_DATA": str(data), "PATH": "/usr/bin:/bin", "HTTP_PROXY": dead, "HTTPS_PROXY": dead}


def test_fetch_command_offline_lists_every_missing_file(tmp_path: Path) -> None:
    result = run_cli("fetch", "omz", env=offline_env(tmp_path / "data"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    *missing, error = result.stderr.strip().splitlines()
    assert missing == [
        f"poseforge: missing {tmp_path / 'data' / remote.path} (sha256 {remote.sha256}, {remote.size} bytes) "
        f"from {remote.url}"
        for remote in fetch.OMZ_FILES
    ]
    assert error.startswith(f"poseforge: error: 2 files missing from the data directory {tmp_path / 'data'}")
    assert "$POSEFORGE_DATA" in error and "DATA=" in error and "cannot download" in error
    assert not (tmp_path / "data").exists()  # no empty data directory left behind


def test_present_file_with_wrong_sha256_is_refused(tmp_path: Path) -> None:
    remote = RemoteFile("x.bin", OFFLINE_URL, "b" * 64)
    (tmp_path / "x.bin").write_bytes(b"tampered")
    with pytest.raises(PoseforgeError, match="delete it to download it again"):
        ensure_file(remote, tmp_path)


def test_the_real_assets_match_the_official_checksums(assets: Path) -> None:
    assert [ensure_file(remote, assets) for remote in fetch.OMZ_FILES]  # present: no download
    assert fetch.verify_data(assets) == []
    manifest = fetch.coco_mini_manifest()
    assert len(manifest["images"]) == 79
    assert {p.name for p in (assets / "coco-mini" / "val2017").glob("*.jpg")} == {
        i["file_name"] for i in manifest["images"]
    }


@pytest.mark.parametrize("command", ["reference-ir", "import-ir"])
def test_the_data_directory_ir_is_checked_before_it_is_used(assets: Path, tmp_path: Path, command: str) -> None:
    """reference-ir and import-ir without an IR take the data directory's: a tampered copy under the
    official name was registered as "Intel's own release, unmodified"."""
    data = tmp_path / "data"
    for remote in fetch.OMZ_FILES:
        (data / remote.path).parent.mkdir(parents=True, exist_ok=True)
        (data / remote.path).write_bytes((assets / remote.path).read_bytes())
    assert fetch.omz_ir(data) == data / fetch.OMZ_FILES[0].path
    weights = data / fetch.OMZ_FILES[1].path
    tampered = bytearray(weights.read_bytes())
    tampered[1] ^= 0x04
    weights.write_bytes(bytes(tampered))
    output = tmp_path / "out" / ("model.xml" if command == "reference-ir" else "model.pth")
    result = run_cli(command, "--data", str(data), "-o", str(output))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"{weights} has sha256" in result.stderr and "(the official file)" in result.stderr
    assert not output.parent.exists()
    weights.unlink()
    with pytest.raises(PoseforgeError, match=f"{weights} not found: `poseforge fetch omz`"):
        fetch.omz_ir(data)


def test_cut_annotations_keeps_schema_and_only_the_wanted_images(assets: Path) -> None:
    full = json.loads((assets / "coco-mini" / "annotations" / "person_keypoints_val2017.json").read_text())
    with_people = sorted({a["image_id"] for a in full["annotations"]})[:5]
    cut = cut_annotations(full, with_people)
    assert cut.keys() == full.keys() and cut["categories"] == full["categories"]
    assert {i["id"] for i in cut["images"]} == set(with_people)
    assert cut["annotations"] == [a for a in full["annotations"] if a["image_id"] in set(with_people)]
    whole = cut_annotations(full, [i["id"] for i in fetch.coco_mini_manifest()["images"]])
    assert len(whole["annotations"]) == fetch.coco_mini_manifest()["num_annotations"]
    with pytest.raises(PoseforgeError, match="lacks 1 of the requested images"):
        cut_annotations(full, [*with_people, -1])


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSEFORGE_DATA", str(tmp_path))
    assert fetch.data_dir() == tmp_path
    assert fetch.data_dir("/elsewhere") == Path("/elsewhere")
    monkeypatch.delenv("POSEFORGE_DATA")
    assert fetch.data_dir() == Path.home() / ".cache" / "poseforge"


# -- resumable downloads over HTTP (a server on 127.0.0.1 in the test) ---------------------------------------

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: several reads, so an interruption falls mid-file


class _RangeServer(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD at any path; honours `Range: bytes=N-` unless told not to; the first requests can be cut
    after a number of bytes (the connection closes, as when a network drops)."""

    def __init__(self, honour_range: bool = True, cut_after: tuple[int, ...] = ()) -> None:
        super().__init__(("127.0.0.1", 0), _RangeHandler)
        self.honour_range = honour_range
        self.cut_after = list(cut_after)
        self.ranges: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/file.bin"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that stops reading is expected here
            super().handle_error(request, client_address)


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    server: _RangeServer

    def do_GET(self) -> None:
        asked = self.headers.get("Range")
        self.server.ranges.append(asked)
        start = 0
        if asked and self.server.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.cut_after.pop(0) if self.server.cut_after else None
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = cut is not None

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., _RangeServer]]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    servers: list[_RangeServer] = []

    def start(**kwargs: object) -> _RangeServer:
        server = _RangeServer(**kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


GOOD = hashlib.sha256(PAYLOAD).hexdigest()


def test_interrupted_download_resumes_with_a_range_request(tmp_path: Path, serve: Callable[..., _RangeServer]) -> None:
    server = serve(cut_after=(300_000,))
    dest = tmp_path / "downloads" / "file.bin"
    with pytest.raises(PoseforgeError, match=r"300000 bytes are kept in .*file\.bin\.part: run again to resume"):
        download(server.url, dest, GOOD, progress=False, size=len(PAYLOAD))
    assert not dest.exists() and (tmp_path / "downloads" / "file.bin.part").stat().st_size == 300_000
    assert download(server.url, dest, GOOD, progress=False, size=len(PAYLOAD)).read_bytes() == PAYLOAD
    assert server.ranges == [None, "bytes=300000-"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]


def test_a_server_ignoring_range_restarts_cleanly(tmp_path: Path, serve: Callable[..., _RangeServer]) -> None:
    server = serve(honour_range=False)
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes of an earlier attempt")
    assert download(server.url, dest, GOOD, progress=False).read_bytes() == PAYLOAD  # 200: written from the start
    assert server.ranges == ["bytes=33-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_wrong_sha256_or_size_over_http_leaves_nothing(tmp_path: Path, serve: Callable[..., _RangeServer]) -> None:
    server = serve()
    with pytest.raises(PoseforgeError, match="refused, nothing written"):
        download(server.url, tmp_path / "file.bin", "f" * 64, progress=False)
    with pytest.raises(PoseforgeError, match=f"offers {len(PAYLOAD)} bytes, expected 10: refused"):
        download(server.url, tmp_path / "file.bin", GOOD, progress=False, size=10)
    assert list(tmp_path.iterdir()) == []


def test_download_with_a_progress_bar(tmp_path: Path, serve: Callable[..., _RangeServer]) -> None:
    server = serve()
    assert download(server.url, tmp_path / "file.bin", GOOD, progress=True).read_bytes() == PAYLOAD


# -- the packaged manifests against the real assets ----------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_coco_val_manifest_matches_the_assets(assets: Path) -> None:
    manifest = fetch.load_manifest("coco-val")
    folder = assets / "coco-val" / "val2017"
    images = manifest["images"]
    assert len(images) == 138 and {p.name for p in folder.glob("*.jpg")} == {i["file_name"] for i in images}
    for image in images:
        path = folder / image["file_name"]
        assert (path.stat().st_size, _sha(path)) == (image["size"], image["sha256"]), path
    annotations = assets / "coco-val" / manifest["annotations_file"]
    full = json.loads(annotations.read_text())
    assert {i["file_name"]: i["id"] for i in full["images"]} == {i["file_name"]: i["id"] for i in images}
    assert len(full["annotations"]) == manifest["num_annotations"] == 442
    assert sum(a["num_keypoints"] > 0 for a in full["annotations"]) == manifest["num_keypoint_annotations"] == 266
    assert _sha(annotations) == manifest["annotations_sha256"]
    mini = {i["id"] for i in fetch.coco_mini_manifest()["images"]}
    assert mini < {i["id"] for i in images}  # all of coco-mini, and more


def _official_order(full: dict[str, Any]) -> dict[str, Any]:
    """The same annotations in another order, as in the official file: top-level keys info, licenses, images,
    annotations, categories; images and annotations not sorted."""
    rng = random.Random(0)
    images, annotations = list(full["images"]), list(full["annotations"])
    rng.shuffle(images)
    rng.shuffle(annotations)
    keys = ("info", "licenses", "images", "annotations", "categories")
    return {k: {"images": images, "annotations": annotations}.get(k, full[k]) for k in keys}


def test_the_coco_val_cut_is_byte_reproducible(assets: Path) -> None:
    manifest = fetch.load_manifest("coco-val")
    raw = (assets / "coco-val" / manifest["annotations_file"]).read_bytes()
    ids = [i["id"] for i in manifest["images"]]
    assert json.dumps(cut_annotations(json.loads(raw), ids)).encode() == raw  # the asset is itself such a cut
    shuffled = cut_annotations(_official_order(json.loads(raw)), ids, by_id=True)
    assert json.dumps(shuffled).encode() == raw  # whatever the order of the source


def test_coco_calib_manifest_matches_the_assets(assets: Path) -> None:
    manifest = fetch.load_manifest("coco-calib")
    folder = assets / "coco-calib" / "train2017"
    images = manifest["images"]
    assert len(images) == 367 and {p.name for p in folder.glob("*.jpg")} == {i["file_name"] for i in images}
    for image in images:
        path = folder / image["file_name"]
        assert (path.stat().st_size, _sha(path)) == (image["size"], image["sha256"]), path
        assert image["id"] == int(path.stem)
    assert manifest["image_url"] == "http://images.cocodataset.org/train2017/{file_name}"
    assert not {i["id"] for i in images} & {i["id"] for i in fetch.load_manifest("coco-val")["images"]}
    assert "annotations_file" not in manifest


# -- fetching image sets (file:// URLs into the assets) ------------------------------------------------------


def _zip_json(path: Path, member: str, content: dict[str, Any]) -> fetch.RemoteFile:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, json.dumps(content))
    return fetch.RemoteFile("downloads/annotations_trainval2017.zip", path.as_uri(), _sha(path), path.stat().st_size)


@pytest.fixture
def annotations_zip(assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> fetch.RemoteFile:
    """A stand-in for annotations_trainval2017.zip: the coco-val annotations in the official file's order."""
    full = json.loads((assets / "coco-val" / "annotations" / "person_keypoints_val2017.json").read_text())
    remote = _zip_json(tmp_path / "annotations_trainval2017.zip", fetch.VAL2017_MEMBER, _official_order(full))
    monkeypatch.setattr(fetch, "ANNOTATIONS_ZIP", remote)
    return remote


@pytest.mark.parametrize(("name", "folder"), [("coco-val", "val2017"), ("coco-calib", "train2017")])
def test_fetch_image_set_reproduces_the_assets(
    name: str, folder: str, assets: Path, tmp_path: Path, annotations_zip: fetch.RemoteFile
) -> None:
    data = tmp_path / "data"
    source = (assets / name / folder).as_uri() + "/{file_name}"
    root = fetch.fetch_image_set(name, data, image_url=source, progress=False)
    assert root == data / name
    expected = sorted(p.relative_to(assets / name) for p in (assets / name).rglob("*") if p.is_file())
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) == expected
    for rel in expected:
        assert (root / rel).read_bytes() == (assets / name / rel).read_bytes(), rel
    # Present files are checked and kept: a second run needs no network at all.
    assert fetch.fetch_image_set(name, data, image_url=OFFLINE_URL + "/{file_name}", progress=False) == root
    assert fetch.verify_data(data) == []
    victim = next((root / folder).glob("*.jpg"))
    victim.write_bytes(b"not the official image")
    with pytest.raises(
        PoseforgeError, match=f"1 {name} image in the data directory is not the official one.*delete them"
    ):
        fetch.fetch_image_set(name, data, image_url=source, progress=False)
    assert victim.read_bytes() == b"not the official image"  # never replaced


def test_a_cut_that_differs_from_the_manifest_is_refused(
    assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = json.loads((assets / "coco-val" / "annotations" / "person_keypoints_val2017.json").read_text())
    full["annotations"][0]["area"] += 1.0  # same count, other bytes
    remote = _zip_json(tmp_path / "other.zip", fetch.VAL2017_MEMBER, full)
    monkeypatch.setattr(fetch, "ANNOTATIONS_ZIP", remote)
    data = tmp_path / "data"
    source = (assets / "coco-val" / "val2017").as_uri() + "/{file_name}"
    with pytest.raises(PoseforgeError, match=r"annotations cut from .* have sha256 \w+, expected \w+: refused"):
        fetch.fetch_image_set("coco-val", data, image_url=source, progress=False)
    assert not (data / "coco-val" / "annotations").exists()


def test_an_offline_image_set_fails_after_a_few_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = []
    real = fetch._download
    monkeypatch.setattr(fetch, "_download", lambda url, *args: attempts.append(url) or real(url, *args))
    with pytest.raises(fetch.MissingFiles) as info:
        fetch.fetch_image_set("coco-calib", tmp_path, image_url="http://127.0.0.1:9/{file_name}", progress=False)
    folder = tmp_path / "coco-calib" / "train2017"
    images = fetch.load_manifest("coco-calib")["images"]
    assert info.value.lines == [
        f"{folder / i['file_name']} (sha256 {i['sha256']}, {i['size']} bytes) from http://127.0.0.1:9/{i['file_name']}"
        for i in images
    ]
    assert len(attempts) <= fetch.MAX_FAILURES + fetch.IMAGE_WORKERS
    assert all(reason.startswith("cannot download http://127.0.0.1:9/") for reason in info.value.reasons)
    assert not folder.exists() or not any((tmp_path / "coco-calib").rglob("*.jpg"))


def test_fetch_all_offline_lists_every_missing_file_of_every_set(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli("fetch", "all", env=offline_env(data))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    *missing, error = result.stderr.strip().splitlines()
    paths = [line.removeprefix("poseforge: missing ").split(" (")[0] for line in missing]
    expected = [str(data / remote.path) for remote in fetch.OMZ_FILES]
    for name in fetch.ALL[1:]:
        manifest = fetch.load_manifest(name)
        folder = data / name / manifest.get("images_dir", "val2017")
        expected += [str(folder / image["file_name"]) for image in manifest["images"]]
        if "annotations_file" in manifest:
            expected += [str(data / fetch.ANNOTATIONS_ZIP.path), str(data / name / manifest["annotations_file"])]
    assert paths == list(dict.fromkeys(expected))  # each once, the annotations zip included
    assert error.startswith(f"poseforge: error: {len(paths)} files missing from the data directory {data}")
    assert "$POSEFORGE_DATA" in error and "DATA=" in error


def test_fetch_help_lists_every_choice() -> None:
    result = run_cli("fetch", "--help")
    assert result.returncode == 0
    for name in (*fetch.SETS, "all"):
        assert re.search(rf"^  {name} +\S.*\d", result.stdout, re.MULTILINE), name  # one line, with a size
    assert "val2017" not in fetch.ALL


# -- the full val2017: safe unpacking -------------------------------------------------------------------------


def _image_zip(path: Path, members: dict[str, bytes], folder_entry: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if folder_entry:
            zf.writestr(zipfile.ZipInfo("val2017/"), b"")
        for name, content in members.items():
            zf.writestr(name, content)
    return path


IMAGES = {f"val2017/{i:012d}.jpg": f"jpeg {i}".encode() * 100 for i in (139, 285, 632)}


def test_unpack_images_writes_plain_images_and_keeps_identical_ones(tmp_path: Path) -> None:
    archive = _image_zip(tmp_path / "val2017.zip", IMAGES)
    dest = tmp_path / "out" / "val2017"
    sums = fetch.unpack_images(archive, dest, "val2017", expected=3, progress=False)
    assert sums == {Path(n).name: hashlib.sha256(c).hexdigest() for n, c in IMAGES.items()}
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == {Path(n).name: c for n, c in IMAGES.items()}
    assert fetch.unpack_images(archive, dest, "val2017", expected=3, progress=False) == sums
    (dest / "000000000139.jpg").write_bytes(b"mine")
    with pytest.raises(PoseforgeError, match=r"000000000139\.jpg has sha256 .*delete it to unpack it again"):
        fetch.unpack_images(archive, dest, "val2017", progress=False)
    assert (dest / "000000000139.jpg").read_bytes() == b"mine"
    with pytest.raises(PoseforgeError, match="holds 3 val2017 images, expected 5000: refused"):
        fetch.unpack_images(archive, tmp_path / "other", "val2017", expected=5000, progress=False)


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ("../x.jpg", r"leaves the folder \(\.\.\)"),
        ("val2017/../../x.jpg", r"leaves the folder \(\.\.\)"),
        ("/etc/x.jpg", "is an absolute path"),
        ("C:/x.jpg", "is an absolute path"),
        (_symlink("val2017/000000000001.jpg"), "is a symbolic link"),
        ("val2017/sub/x.jpg", "is not a plain val2017/<name>.jpg image"),
        ("val2017/.hidden.jpg", "is not a plain val2017/<name>.jpg image"),
        ("val2017/readme.txt", "is not a plain val2017/<name>.jpg image"),
        ("val2017/000000000139.jpg", "appears twice"),
    ],
)
def test_unpack_images_refuses_unsafe_members(tmp_path: Path, member: str | zipfile.ZipInfo, why: str) -> None:
    archive = tmp_path / "evil.zip"
    _image_zip(archive, IMAGES)
    with (
        pytest.warns(UserWarning, match="Duplicate name") if member == "val2017/000000000139.jpg" else nullcontext(),
        zipfile.ZipFile(archive, "a") as zf,
    ):
        zf.writestr(member, b"/etc/passwd")
    dest = tmp_path / "out" / "val2017"
    with pytest.raises(PoseforgeError, match=f"evil.zip: member .* {why}: refused, nothing unpacked"):
        fetch.unpack_images(archive, dest, "val2017", progress=False)
    assert not dest.exists() and not (tmp_path / "x.jpg").exists()


def test_unpack_images_refuses_oversized_members(tmp_path: Path) -> None:
    archive = _image_zip(tmp_path / "big.zip", IMAGES)
    with pytest.raises(PoseforgeError, match="is 800 bytes, over the 100 allowed for one image"):
        fetch.unpack_images(archive, tmp_path / "out", "val2017", max_member=100, progress=False)
    with pytest.raises(PoseforgeError, match="unpacks to more than 2000 bytes: refused, nothing unpacked"):
        fetch.unpack_images(archive, tmp_path / "out", "val2017", max_total=2000, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def tiny_val2017(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-ins for val2017.zip and annotations_trainval2017.zip: three images, four people (two with keypoints)."""
    names = [Path(n).name for n in IMAGES]
    images = [{"file_name": n, "id": int(Path(n).stem)} for n in names]
    annotations = [
        {"id": k, "image_id": images[k % 3]["id"], "num_keypoints": [0, 5, 0, 17][k], "category_id": 1}
        for k in range(4)
    ]
    full = {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": []}
    monkeypatch.setattr(fetch, "ANNOTATIONS_ZIP", _zip_json(tmp_path / "ann.zip", fetch.VAL2017_MEMBER, full))
    archive = _image_zip(tmp_path / "val.zip", IMAGES)
    remote = fetch.RemoteFile("downloads/val2017.zip", archive.as_uri(), _sha(archive), archive.stat().st_size)
    monkeypatch.setattr(fetch, "VAL2017_ZIP", remote)
    monkeypatch.setattr(fetch, "VAL2017_COUNTS", fetch.Val2017Counts(3, 4, 2))
    return tmp_path / "data"


def test_fetch_val2017_lays_it_out_for_coco(tiny_val2017: Path) -> None:
    root = fetch.fetch_val2017(tiny_val2017, progress=False)
    assert root == tiny_val2017 / "val2017"
    assert sorted(p.name for p in (root / "val2017").iterdir()) == sorted(Path(n).name for n in IMAGES)
    member = zipfile.ZipFile(tiny_val2017.parent / "ann.zip").read(fetch.VAL2017_MEMBER)
    assert (root / "annotations" / "person_keypoints_val2017.json").read_bytes() == member  # verbatim
    sums = dict(reversed(line.split("  ")) for line in (root / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {f"val2017/{Path(n).name}" for n in IMAGES} | {fetch.VAL2017_MEMBER}
    assert all(_sha(root / rel) == sha for rel, sha in sums.items())
    # A missing file is unpacked again (the zips are still there), the others are kept.
    (root / "val2017" / "000000000632.jpg").unlink()
    assert fetch.fetch_val2017(tiny_val2017, progress=False) == root
    assert all(_sha(root / rel) == sha for rel, sha in sums.items())
    # Later runs check the files against SHA256SUMS and need neither the zips nor the network.
    for archive in (tiny_val2017 / "downloads").iterdir():
        archive.unlink()
    assert fetch.fetch_val2017(tiny_val2017, progress=False) == root
    (root / "val2017" / "000000000285.jpg").write_bytes(b"changed")
    with pytest.raises(PoseforgeError, match=r"000000000285\.jpg has sha256 .*delete it to unpack it again"):
        fetch.fetch_val2017(tiny_val2017, progress=False)


def test_fetch_val2017_checks_the_annotation_counts(tiny_val2017: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "VAL2017_COUNTS", fetch.Val2017Counts(3, 11004, 6352))
    with pytest.raises(PoseforgeError, match="has 3 images, 4 annotations, 2 with keypoints; expected 3, 11004, 6352"):
        fetch.fetch_val2017(tiny_val2017, progress=False)
    assert not (tiny_val2017 / "val2017" / "annotations").exists()
    assert not (tiny_val2017 / "val2017" / "SHA256SUMS").exists()


def test_the_official_zips_are_pinned() -> None:
    assert fetch.VAL2017_ZIP.url == "http://images.cocodataset.org/zips/val2017.zip"
    assert (fetch.VAL2017_ZIP.size, fetch.ANNOTATIONS_ZIP.size) == (815585330, 252907541)
    assert re.fullmatch("[0-9a-f]{64}", fetch.VAL2017_ZIP.sha256) and re.fullmatch(
        "[0-9a-f]{64}", fetch.ANNOTATIONS_ZIP.sha256
    )


def test_fetch_checks_a_read_only_data_directory_without_a_lock(assets: Path, tmp_path: Path) -> None:
    """The lock needs a writable data directory; a read-only one (a mounted copy of the assets) is only checked."""
    from tests.hostile.helpers import remount_read_only, tmpfs

    with tmpfs(tmp_path / "ro", "16m") as ro:
        for remote in fetch.OMZ_FILES:
            (ro / remote.path).parent.mkdir(parents=True, exist_ok=True)
            (ro / remote.path).write_bytes((assets / remote.path).read_bytes())
        remount_read_only(ro)
        result = run_cli("fetch", "omz", "--data", str(ro))
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert f"data directory {ro}: omz present, sha256 verified" in result.stdout

"""Writing outputs: atomic, never over the user's own files, folders swapped in whole and locked."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from poseforge.documents import parse_json
from poseforge.errors import PoseforgeError
from poseforge.fileio import (
    MARKDOWN_MARK,
    atomic_output,
    atomic_outputs,
    claim,
    output_directory,
    sha256_file,
    write_json,
)


def read_manifest(path: Path) -> dict:
    data = parse_json(path, "test manifest", 1 << 20)
    if data.get("schema") != "test/1":
        raise PoseforgeError(f"{path} is not a test manifest")
    return data


def write_output(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).write_text(name)
    (folder / "manifest.json").write_text(json.dumps({"schema": "test/1", "files": names}))


def test_success_renames_into_place_with_companion(tmp_path: Path) -> None:
    target = tmp_path / "ir" / "model.xml"
    with atomic_output(target, ".bin") as tmp:
        assert tmp.suffix == ".xml" and tmp.parent == target.parent
        tmp.write_text("<net><rt_info><poseforge><metadata/></poseforge></rt_info></net>")
        tmp.with_suffix(".bin").write_bytes(b"weights")
    assert target.with_suffix(".bin").read_bytes() == b"weights"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin", "model.xml"]
    assert target.stat().st_mode & 0o044  # readable by others, not mkstemp's 0600
    with atomic_output(target, ".bin") as tmp:  # its own IR: replaced
        tmp.write_text("<net><rt_info><poseforge><metadata/></poseforge></rt_info></net>")
        tmp.with_suffix(".bin").write_bytes(b"new weights")
    assert target.with_suffix(".bin").read_bytes() == b"new weights"


@pytest.mark.parametrize("error", [RuntimeError("stage failed"), KeyboardInterrupt()])
def test_failure_leaves_nothing_and_keeps_an_old_target(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "report.json"
    write_json(target, {"schema": "poseforge.report/2", "previous": True})
    before = target.read_bytes()
    with pytest.raises(type(error)), atomic_output(target) as tmp:
        tmp.write_text("half written")
        raise error
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_several_files_are_renamed_last_one_last(tmp_path: Path) -> None:
    results, report = tmp_path / "results" / "a.json", tmp_path / "a.json"
    seen = []
    original = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(dst).name if Path(dst).parent == tmp_path else f"results/{Path(dst).name}")
        original(src, dst)

    os.replace = spy
    try:
        with atomic_outputs(results, report) as (a, b):
            a.write_text("[]")
            b.write_text(json.dumps({"schema": "poseforge.report/2"}))
    finally:
        os.replace = original
    assert seen == ["results/a.json", "a.json"]


@pytest.mark.parametrize(
    "name, content",
    [
        ("model.onnx", b"my own onnx"),
        ("notes.json", b'{"mine": 1}'),
        ("report.md", b"# my notes"),
        ("model.pth", b"not a checkpoint"),
        ("plot.png", b"\x89PNG\r\n\x1a\nmine"),
        ("model.xml", b"<net/>"),
        ("data.csv", b"a,b"),
    ],
)
def test_a_file_poseforge_did_not_write_is_never_replaced(tmp_path: Path, name: str, content: bytes) -> None:
    target = tmp_path / name
    target.write_bytes(content)
    refused = pytest.raises(PoseforgeError, match="was not written by poseforge: not replaced")
    with refused, atomic_output(target) as tmp:
        tmp.write_bytes(b"ours")
    assert target.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_links_folders_and_paths_under_files_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"schema": "poseforge.report/2"}))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(PoseforgeError, match="symbolic link"):
        claim(link)
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(PoseforgeError, match="not a regular file"):
        claim(tmp_path / "folder.json")
    with pytest.raises(PoseforgeError, match="is a file, not a folder"):
        claim(real / "under" / "x.json")


def test_markdown_with_the_mark_is_ours(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text(f"# report\n{MARKDOWN_MARK}\n")
    with atomic_output(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_output_directory_new_and_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), output_directory(out, "manifest.json", read_manifest, []) as tmp:
        write_output(tmp, ["a"])
        raise RuntimeError
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with output_directory(out, "manifest.json", read_manifest, []) as tmp:
        write_output(tmp, ["a", "b"])
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "manifest.json"]
    assert out.stat().st_mode & 0o055  # listable by others, not mkdtemp's 0700
    with output_directory(out, "manifest.json", read_manifest, []) as tmp:
        write_output(tmp, ["c"])
    assert sorted(p.name for p in out.iterdir()) == ["c", "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock file, no old copy left


@pytest.mark.parametrize("extra", ["src/train.py", "results.csv", "manifest.json"])
def test_a_folder_with_anything_unlisted_is_not_replaced(tmp_path: Path, extra: str) -> None:
    out = tmp_path / "proj"
    out.mkdir()
    write_output(out, ["a"])
    if extra == "manifest.json":
        (out / "manifest.json").write_text("not json")
    else:
        (out / extra).parent.mkdir(exist_ok=True)
        (out / extra).write_text("the user's")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    refused = pytest.raises(PoseforgeError, match="not an earlier poseforge output")
    with refused, output_directory(out, "manifest.json", read_manifest, []) as tmp:
        write_output(tmp, ["z"])
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_the_working_directory_an_input_and_its_parents_are_refused(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "photos" / "a.jpg"
    source.parent.mkdir()
    source.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    for out in (tmp_path, Path("."), source.parent, source):
        refused = pytest.raises(PoseforgeError, match=r"working directory|holds the input")
        with refused, output_directory(out, "manifest.json", read_manifest, [source]):
            pass
    assert source.read_bytes() == b"x"


def test_two_writers_one_wins_and_the_folder_is_never_absent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_directory(out, "manifest.json", read_manifest, []) as tmp:
        write_output(tmp, ["first"])
    absent, stop = [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if not out.is_dir():
                absent.append(time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with output_directory(out, "manifest.json", read_manifest, []) as tmp:
            write_output(tmp, ["second"])
            locked = pytest.raises(PoseforgeError, match="being written by another poseforge")
            with locked, output_directory(out, "manifest.json", read_manifest, []):
                pass
        for _ in range(20):
            with output_directory(out, "manifest.json", read_manifest, []) as tmp:
                write_output(tmp, ["again"])
    finally:
        stop.set()
        watcher.join()
    assert absent == []
    assert sorted(p.name for p in out.iterdir()) == ["again", "manifest.json"]


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

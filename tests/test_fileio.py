"""Writing outputs: atomic, never over the user's own files (ownership by the record of what poseforge
wrote, not by what a file holds), folders swapped in whole and locked, lock files that are never the user's."""

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
    LEDGER,
    LOCK_PREFIX,
    MARKDOWN_MARK,
    atomic_output,
    atomic_outputs,
    claim,
    command_files,
    lock_file,
    output_directory,
    read_ledger,
    reading,
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
    assert sorted(p.name for p in target.parent.iterdir()) == [LEDGER, "model.bin", "model.xml"]
    assert read_ledger(target.parent) == {
        name: {"sha256": sha256_file(target.parent / name), "bytes": (target.parent / name).stat().st_size}
        for name in ("model.bin", "model.xml")
    }
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
    assert sorted(p.name for p in tmp_path.iterdir()) == [LEDGER, "report.json"]


def test_several_files_are_renamed_last_one_last(tmp_path: Path) -> None:
    results, report = tmp_path / "results" / "a.json", tmp_path / "a.json"
    seen = []
    original = os.replace

    def spy(src: str, dst: str) -> None:
        if Path(dst).name != LEDGER:
            seen.append(Path(dst).name if Path(dst).parent == tmp_path else f"results/{Path(dst).name}")
        original(src, dst)

    with atomic_outputs(results, report) as (a, b):  # the first time they are new (renamed without replacing)
        a.write_text("[]")
        b.write_text(json.dumps({"schema": "poseforge.report/2"}))
    os.replace = spy
    try:
        with atomic_outputs(results, report) as (a, b):
            a.write_text("[]")
            b.write_text(json.dumps({"schema": "poseforge.report/2"}))
    finally:
        os.replace = original
    assert seen == ["results/a.json", "a.json"]


BUNDLE_LIKE = b"\x1f\x8b"  # replaced below by a real .tar.gz holding another tool's bundle.json and notes


def _tar_gz(members: dict[str, bytes]) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# Files of the user's, several holding what the old marks looked for (a schema prefix, the <poseforge>
# tag, the Markdown note, the PNG text chunk, a member named bundle.json): none of that makes them poseforge's.
USERS_FILES = {
    "model.onnx": b"my own onnx \n\tposeforge\x12",
    "notes.json": b'{"mine": 1}',
    "report.json": json.dumps({"schema": "poseforge.report/2", "ap": 0.9}).encode(),
    "report.md": f"# my notes\n{MARKDOWN_MARK}\n".encode(),
    "model.pth": b"not a checkpoint poseforge.checkpoint/1",
    "plot.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\x10tEXtSoftware\x00poseforge",
    "notes.xml": b"<notes>see <poseforge> in my thesis</notes>",
    "archive.tar.gz": _tar_gz({"notes.txt": b"my notes", "bundle.json": b'{"tool": "other"}'}),
    "data.csv": b"a,b",
}


@pytest.mark.parametrize("name", list(USERS_FILES))
def test_a_file_poseforge_did_not_write_is_never_replaced(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    target.write_bytes(USERS_FILES[name])
    refused = pytest.raises(PoseforgeError, match="was not written by poseforge, or has changed since")
    with refused, atomic_output(target) as tmp:
        tmp.write_bytes(b"ours")
    assert target.read_bytes() == USERS_FILES[name]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_file_poseforge_wrote_is_the_users_once_changed_or_copied(tmp_path: Path) -> None:
    """Provenance is of this content in this place: an edit, or the same bytes copied elsewhere, is the user's."""
    report = write_json(tmp_path / "a" / "report.json", {"schema": "poseforge.report/2", "ap": 0.5})
    with atomic_output(report) as tmp:  # unchanged: ours to replace
        tmp.write_text(json.dumps({"schema": "poseforge.report/2", "ap": 0.6}))
    report.write_text(report.read_text().replace("0.6", "0.7"))  # the user edits it
    with pytest.raises(PoseforgeError, match="has changed since"), atomic_output(report) as tmp:
        tmp.write_text("{}")
    copy = tmp_path / "b" / "report.json"
    copy.parent.mkdir()
    copy.write_bytes(report.read_bytes())
    with pytest.raises(PoseforgeError, match="was not written by poseforge"), atomic_output(copy) as tmp:
        tmp.write_text("{}")
    assert json.loads(report.read_text())["ap"] == 0.7 and copy.read_bytes() == report.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "another schema", "a duplicate key", "a link"])
def test_a_record_that_is_not_poseforges_is_refused_and_kept(tmp_path: Path, kind: str) -> None:
    ledger = tmp_path / LEDGER
    if kind == "a link":
        (tmp_path / "elsewhere.json").write_text("{}")
        ledger.symlink_to(tmp_path / "elsewhere.json")
    else:
        ledger.write_text({
            "garbage": "not json",
            "another schema": json.dumps({"schema": "mine/1", "files": {}}),
            "a duplicate key": '{"schema": "poseforge.outputs/1", "files": {}, "files": {}}',
        }[kind])  # fmt: skip
    before = {p.name: (os.readlink(p) if p.is_symlink() else p.read_bytes()) for p in tmp_path.iterdir()}
    with pytest.raises(PoseforgeError, match="is not poseforge's record"), atomic_output(tmp_path / "x.json") as tmp:
        tmp.write_text("{}")
    assert {p.name: (os.readlink(p) if p.is_symlink() else p.read_bytes()) for p in tmp_path.iterdir()} == before
    with pytest.raises(PoseforgeError, match=r"record of what it wrote|symbolic link"), atomic_output(ledger) as tmp:
        tmp.write_text("{}")


def test_concurrent_writers_in_one_folder_keep_one_complete_record(tmp_path: Path) -> None:
    def write(k: int) -> None:
        for round_ in range(5):
            write_json(tmp_path / f"r{k}.json", {"writer": k, "round": round_})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(read_ledger(tmp_path)) == [f"r{k}.json" for k in range(6)]
    for k in range(6):
        claim(tmp_path / f"r{k}.json")  # every one recorded as it is


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
    assert sorted(p.name for p in tmp_path.iterdir()) == [LEDGER, "out"]  # no lock file, no old copy left


@pytest.mark.parametrize("extra", ["src/train.py", "results.csv", "manifest.json", "nothing", "an edit"])
def test_a_folder_with_anything_unlisted_is_not_replaced(tmp_path: Path, extra: str) -> None:
    out = tmp_path / "proj"
    if extra == "an edit":  # an earlier output whose file the user changed
        with output_directory(out, "manifest.json", read_manifest, []) as tmp:
            write_output(tmp, ["a"])
        (out / "a").write_text("the user's edit")
    else:
        out.mkdir()
        write_output(out, ["a"])
    if extra == "manifest.json":
        (out / "manifest.json").write_text("not json")
    elif extra in ("nothing", "an edit"):  # "nothing": exactly what its manifest lists, but poseforge never wrote it
        pass
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


def test_a_lock_file_is_exclusive_and_never_the_users(tmp_path: Path) -> None:
    lock = tmp_path / ".out.lock"
    with lock_file(lock, "busy"):
        assert lock.read_bytes().startswith(LOCK_PREFIX)
        with pytest.raises(PoseforgeError, match="busy"), lock_file(lock, "busy"):
            pass
        assert lock.is_file()  # the refused second holder did not remove it
    assert not lock.exists()
    lock.write_text("the user's file of that name")
    with pytest.raises(PoseforgeError, match="is not a poseforge lock"), lock_file(lock, "busy"):
        pass
    assert lock.read_text() == "the user's file of that name"
    lock.unlink()
    lock.symlink_to(tmp_path / "target")
    with pytest.raises(PoseforgeError, match="symbolic link"), lock_file(lock, "busy"):
        pass
    assert lock.is_symlink() and not (tmp_path / "target").exists()


def test_a_lock_left_by_a_killed_poseforge_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / ".out.lock"
    lock.write_bytes(LOCK_PREFIX + b"pid 1 host gone 0123\n")  # nobody holds its flock
    with lock_file(lock, "busy"):
        assert b"pid 1 host gone" not in lock.read_bytes()
    assert not lock.exists()


def test_a_waiting_lock_proceeds_once_released(tmp_path: Path) -> None:
    lock, order = tmp_path / "data.lock", []

    def second() -> None:
        with lock_file(lock, "busy", wait=30, waiting=lambda: order.append("waiting")):
            order.append("second")

    with lock_file(lock, "busy"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first done")
    thread.join()
    assert order == ["waiting", "first done", "second"] and not lock.exists()


def test_the_baseline_the_user_keeps_is_updated_in_place(tmp_path: Path) -> None:
    """A committed baseline is in no record (a fresh clone, tolerances edited by hand): `poseforge baseline`
    still rewrites it, being a valid baseline; a file of that name that is not one stays the user's."""
    from poseforge.documents import BASELINE, read_document, write_document

    machine = {"cpu": "test", "cores": 2, "isa": [], "class": "x86-avx2-2c", "tier": "x86-avx2"}
    baseline = {
        "schema": BASELINE.schema,
        "model": "human-pose-estimation-0001",
        "dataset": {"annotations_sha256": "0" * 64, "image_ids_sha256": "1" * 64, "images": 3},
        "accuracy": {"ir-fp32": {"val": {"ap": 0.5, "tolerance": 0.005, "images": 3}}},
        "classes": {"x86-avx2-2c": {"machine": machine, "accuracy": {}, "ratios": {}}},
    }
    target = tmp_path / "baseline.json"
    target.write_text(json.dumps(baseline))  # the user's, as committed
    write_document(target, BASELINE, {**baseline, "model": "lightweight-openpose"})
    assert read_document(target, BASELINE)["model"] == "lightweight-openpose"
    target.write_text(json.dumps({"schema": BASELINE.schema, "mine": True}))  # the mark, but not a baseline
    with pytest.raises(PoseforgeError, match="was not written by poseforge"):
        write_document(target, BASELINE, baseline)
    assert json.loads(target.read_text()) == {"schema": BASELINE.schema, "mine": True}


def test_no_output_of_a_command_replaces_a_file_it_reads(tmp_path: Path) -> None:
    """Within one command an input may not be an output, whichever comes first; what the command wrote
    itself it reads back freely. A file poseforge wrote (in its record) is otherwise its to replace."""
    results, report, bench = (write_json(tmp_path / name, {"n": 1}) for name in ("results.json", "r.json", "b.json"))
    with command_files():
        reading(results, "the results r.json names")
        with pytest.raises(PoseforgeError, match=r"results.json is the command's own input \(the results r.json names"):
            write_json(results, {"n": 2})
        claim(report)  # claimed first (before the work), read later
        with pytest.raises(PoseforgeError, match=r"r.json is the command's own input \(report r.json\)"):
            reading(report, "report r.json")
        write_json(bench, {"n": 2})
        reading(bench, "bench b.json")  # its own product
        write_json(bench, {"n": 3})
    assert [json.loads(p.read_text())["n"] for p in (results, report, bench)] == [1, 1, 3]
    write_json(results, {"n": 2})  # outside a command (the API), nothing is noted
    assert json.loads(results.read_text())["n"] == 2

"""Class 1, data loss: no output of poseforge replaces what it did not make, or what it reads.

Every case is a refusal with one line naming the place, and the whole tree around it (inputs
included) is byte-for-byte what it was before. What poseforge made is decided by its record of
what it wrote (fileio.LEDGER), never by what a file holds: a user's file carrying poseforge's
schema, marks or member names, or a poseforge output copied in from elsewhere, is the user's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poseforge import fetch
from poseforge.fileio import LEDGER, write_json
from tests.bundle.made import Made
from tests.conftest import REPO
from tests.hostile.conftest import poseforge
from tests.hostile.helpers import (
    Outcome,
    cli,
    copied_reports,
    edit_json,
    http_server,
    proxy_env,
    refused,
    remount_read_only,
    repack,
    run,
    serve_files,
    snapshot,
    tmpfs,
    wrote,
)

IMAGES = "coco-mini/val2017"
SPEED_FILE = "reports/speed/ir-fp32.json"


@pytest.fixture
def photos(tmp_path: Path, assets: Path) -> Path:
    """The user's input folder: two COCO photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for source in sorted((assets / IMAGES).glob("*.jpg"))[:2]:
        shutil.copy(source, folder)
    return folder


def earlier_output(out: Path, listed: list[str]) -> Path:
    """What an earlier `predict` left: its files and a predict.json listing them."""
    out.mkdir(parents=True, exist_ok=True)
    for name in listed:
        (out / name).write_text(f"earlier {name}")
    summary = {"schema": "poseforge.predict/2", "files": listed, "frames": 1, "people": 0}
    (out / "predict.json").write_text(json.dumps(summary))
    return out


def user_project(root: Path) -> Path:
    """A user's folder with their own work and a predict.json that lists only some of it."""
    project = earlier_output(root / "project", ["results.csv"])
    (project / "src").mkdir()
    (project / "src" / "train.py").write_text("print('my training code')\n")
    return project


# name -> (set-up returning (the -o value, what the error names, the working directory or None))
PredictCase = Callable[[Path, Path, Path], tuple[Path | str, list[str], Path | None]]
PREDICT_CASES: dict[str, PredictCase] = {
    "folder with the user's files and a predict.json": lambda root, photos, bundle: (
        user_project(root),
        ["project", "src"],
        None,
    ),
    "the working directory": lambda root, photos, bundle: (".", ["-o .", "working directory"], user_project(root)),
    "the input folder": lambda root, photos, bundle: (photos, [str(photos)], None),
    "the parent of the input folder": lambda root, photos, bundle: (root, [str(root), "input"], None),
    "the bundle itself": lambda root, photos, bundle: (bundle, [str(bundle)], None),
    "the folder holding the bundle": lambda root, photos, bundle: (bundle.parent, [str(bundle.parent)], None),
    "an earlier output with one extra file": lambda root, photos, bundle: (
        _with(earlier_output(root / "out", ["a.jpg", "poses.json"]), "notes.txt"),
        ["notes.txt", "out"],
        None,
    ),
    "an earlier output missing a listed file": lambda root, photos, bundle: (
        _without(earlier_output(root / "out", ["a.jpg", "poses.json"]), "a.jpg"),
        ["out", "missing"],
        None,
    ),
    "an earlier output whose listed file is a link to the user's": lambda root, photos, bundle: (
        _linked(earlier_output(root / "out", ["a.jpg"]), "poses.json", root / "thesis.tex"),
        ["poses.json"],
        None,
    ),
    "a symbolic link to a folder": lambda root, photos, bundle: (
        _link(root / "link", earlier_output(root / "real", ["poses.json"])),
        ["link", "symbolic link"],
        None,
    ),
    "a path under a regular file": lambda root, photos, bundle: (
        _file(root / "notes.txt") / "out",
        ["notes.txt"],
        None,
    ),
    "a file of the user's named like predict's lock": lambda root, photos, bundle: (
        _file(root / ".out.lock").parent / "out",
        [".out.lock", "not a poseforge lock"],
        None,
    ),
    "exactly what its predict.json lists, but not written by poseforge": lambda root, photos, bundle: (
        earlier_output(root / "out", ["a.jpg", "poses.json"]),
        ["out", "no record"],
        None,
    ),
}


def _with(folder: Path, name: str) -> Path:
    (folder / name).write_text("the user's")
    return folder


def _without(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


def _linked(folder: Path, name: str, target: Path) -> Path:
    target.write_text("the user's thesis")
    (folder / name).symlink_to(target)
    summary = json.loads((folder / "predict.json").read_text())
    (folder / "predict.json").write_text(json.dumps({**summary, "files": [*summary["files"], name]}))
    return folder


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _file(path: Path) -> Path:
    path.write_text("the user's notes")
    return path


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_predict_never_replaces_what_it_did_not_make(
    case: str, made: Made, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    out, names, cwd = PREDICT_CASES[case](tmp_path, photos, made.bundle)
    if cwd is not None:
        monkeypatch.chdir(cwd)
    before = snapshot(tmp_path, made.bundle)
    refused(cli(capsys, "predict", made.bundle, photos, "-o", out), *names)
    assert snapshot(tmp_path, made.bundle) == before


def test_predict_in_a_read_only_place(
    made: Made, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "ro", "1m") as ro:
        remount_read_only(ro)
        before = snapshot(tmp_path)
        refused(cli(capsys, "predict", made.bundle, photos, "-o", ro / "out"), ro / "out", "read-only")
        assert snapshot(tmp_path) == before


def test_two_predicts_into_one_folder(
    made: Made, assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One wins, the other is refused by the lock; the folder (an earlier output) is never absent."""
    images = tmp_path / "many"
    images.mkdir()
    for source in sorted((assets / IMAGES).glob("*.jpg"))[:24]:
        (images / source.name).symlink_to(source)
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.jpg").symlink_to(next(images.iterdir()))
    out = tmp_path / "out"
    wrote(cli(capsys, "predict", made.bundle, one, "-o", out), out)

    gaps: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if not (out / "predict.json").is_file():
                gaps.append(time.monotonic())

    args = [sys.executable, "-m", "poseforge.cli", "predict", str(made.bundle), str(images), "-o", str(out)]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / ".out.lock").exists():  # the first one writes now
            assert first.poll() is None and time.monotonic() < deadline, "the first predict never took the lock"
            time.sleep(0.02)
        second = subprocess.run(args, capture_output=True, text=True, timeout=300)
        out1, err1 = first.communicate(timeout=300)
    finally:
        stop.set()
        watcher.join()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0 and f"wrote {out}" in out1, err1
    refused(Outcome(second.returncode, second.stdout, second.stderr), out, "being written by another poseforge")
    assert gaps == [], "the output folder was absent while it was replaced"
    summary = json.loads((out / "predict.json").read_text())
    assert summary["frames"] == 24 and sorted(os.listdir(out)) == sorted([*summary["files"], "predict.json"])
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")], "a lock or temporary folder is left"


# --- file outputs: name -> set-up returning (arguments, what the error names) ----------------------------------------
def _user_file(path: Path, content: str = "the user's own\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def _coco_results(path: Path) -> Path:
    """Another tool's detections, in the COCO results format validate also writes."""
    row = {"image_id": 139, "category_id": 1, "keypoints": [0.0] * 51, "score": 0.9}
    return _user_file(path, json.dumps([row]))


def _beside_users_results(root: Path) -> Path:
    """-o r.json where results/r.json (where validate puts the results) is the user's bare []."""
    _user_file(root / "results" / "r.json", "[]")
    return root / "r.json"


def _report_dir(root: Path, scored: Path, own: str) -> Path:
    """A model folder with real reports and the user's own file `own` where report writes."""
    model_dir = root / "model"
    shutil.copytree(scored / "reports", model_dir / "reports")
    _user_file(model_dir / own)
    return model_dir


FileCase = Callable[[Path, Path, Path, Path], tuple[list[str | Path], list[str | Path]]]
FILE_CASES: dict[str, FileCase] = {
    "export over the user's notes.onnx": lambda root, build, coco, scored: (
        ["export", build / "model.pth", "-o", _user_file(root / "notes.onnx")],
        [root / "notes.onnx"],
    ),
    "validate over the user's mine.json": lambda root, build, coco, scored: (
        [*_validate(build, coco), _user_file(root / "mine.json", '{"mine": true}')],
        [root / "mine.json"],
    ),
    "validate over another tool's COCO results": lambda root, build, coco, scored: (
        [*_validate(build, coco), _coco_results(root / "detections.json")],
        [root / "detections.json"],
    ),
    "validate over the user's results/ file": lambda root, build, coco, scored: (
        [*_validate(build, coco), _beside_users_results(root)],
        [root / "results" / "r.json"],
    ),
    "bundle over the user's mine.tar.gz": lambda root, build, coco, scored: (
        [
            "bundle",
            scored / "ir/fp32/model.xml",
            "--reports",
            scored / "reports",
            "-o",
            _user_file(root / "mine.tar.gz"),
        ],
        [root / "mine.tar.gz"],
    ),
    "report over the user's report.md": lambda root, build, coco, scored: (
        ["report", _report_dir(root, scored, "report.md")],
        [root / "model" / "report.md"],
    ),
    "simplify a.onnx -o a.onnx": lambda root, build, coco, scored: (
        ["simplify", _copy(build / "model.onnx", root / "a.onnx"), "-o", root / "a.onnx"],
        ["a.onnx", "own input"],
    ),
    "convert -o its own input": lambda root, build, coco, scored: (
        ["convert", _copy(build / "model.sim.onnx", root / "a.onnx"), "-o", root / "a.onnx"],
        ["a.onnx", "own input"],
    ),
    "checkpoint -o its own source": lambda root, build, coco, scored: (
        ["checkpoint", _copy(build / "model.pth", root / "a.pth"), "-o", root / "a.pth"],
        ["a.pth", "own input"],
    ),
    "speed -o the IR's .bin": lambda root, build, coco, scored: (
        ["speed", scored / "ir/fp32/model.xml", "--coco", coco, "-o", scored / "ir/fp32/model.bin"],
        ["model.bin", "own input"],
    ),
    "validate -o the COCO annotations": lambda root, build, coco, scored: (
        [*_validate(build, coco), coco / "annotations/person_keypoints_val2017.json"],
        ["person_keypoints_val2017.json"],
    ),
    "export -o a symbolic link": lambda root, build, coco, scored: (
        ["export", build / "model.pth", "-o", _link(root / "link.onnx", _user_file(root / "target.onnx"))],
        [root / "link.onnx", "symbolic link"],
    ),
    "export -o a path under a regular file": lambda root, build, coco, scored: (
        ["export", build / "model.pth", "-o", _user_file(root / "afile") / "x.onnx"],
        [root / "afile"],
    ),
    "baseline over a report it is made from": lambda root, build, coco, scored: (
        ["baseline", scored, "--baseline", scored / "reports/ir-fp32-val.json"],
        ["ir-fp32-val.json", "own input (report"],
    ),
    "compare -o the results report B names": lambda root, build, coco, scored: (
        [
            "compare",
            *sorted(copied_reports(scored, root)[0].glob("ir-fp32-*.json")),
            "--cross-protocol",
            "--resamples",
            "10",
            "-o",
            root / "reports/results/ir-fp32-val.json",
        ],
        ["results/ir-fp32-val.json", "own input (the results", "ir-fp32-val.json names"],
    ),
    "agreement -o the FP32 report it scores against": lambda root, build, coco, scored: (
        [
            "agreement",
            _with_fp16_report(scored, build, coco),
            "--resamples",
            "10",
            "-o",
            scored / "reports/ir-fp32-val.json",
        ],
        ["reports/ir-fp32-val.json", "own input (report"],
    ),
    "validate -o its own --speed file": lambda root, build, coco, scored: (
        [*_validate(scored, coco)[:-2], "--speed", scored / SPEED_FILE, "-o", scored / SPEED_FILE],
        [SPEED_FILE, "own input (--speed"],
    ),
    "bench -o the IR it measures": lambda root, build, coco, scored: (
        ["bench", scored, "--coco", coco, "--limit", "1", "-o", scored / "ir/fp32/model.xml"],
        ["ir/fp32/model.xml"],
    ),
    "bundle over an archive of notes and another tool's bundle.json": lambda root, build, coco, scored: (
        [
            "bundle",
            scored / "ir/fp32/model.xml",
            "--reports",
            scored / "reports",
            "-o",
            repack(root / "archive.tar.gz", {"notes.txt": b"my notes", "bundle.json": b'{"tool": "other"}'}),
        ],
        [root / "archive.tar.gz"],
    ),
    "convert over the user's notes.xml mentioning <poseforge>": lambda root, build, coco, scored: (
        ["convert", build / "model.sim.onnx", "-o", _user_file(root / "notes.xml", "<notes>see <poseforge></notes>")],
        [root / "notes.xml"],
    ),
    "validate over a poseforge report copied in from elsewhere": lambda root, build, coco, scored: (
        [*_validate(build, coco), _copy(scored / "reports/ir-fp32-val.json", root / "r.json")],
        [root / "r.json"],
    ),
    "export over a poseforge ONNX copied in from elsewhere": lambda root, build, coco, scored: (
        ["export", build / "model.pth", "-o", _copy(build / "model.onnx", root / "m.onnx")],
        [root / "m.onnx"],
    ),
    "bench over the user's mine.json": lambda root, build, coco, scored: (
        ["bench", scored, "--coco", coco, "--limit", "1", "-o", _user_file(root / "mine.json", "{}")],
        [root / "mine.json"],
    ),
    "convert -o a folder": lambda root, build, coco, scored: (
        ["convert", build / "model.sim.onnx", "-o", _folder(root / "model.xml")],
        [root / "model.xml"],
    ),
}


def _validate(build: Path, coco: Path) -> list[str | Path]:
    """validate of the real IR FP32, accuracy only; -o follows."""
    return ["validate", build / "ir/fp32/model.xml", "--coco", coco, "--protocol", "val", "--no-speed", "-o"]


def _with_fp16_report(model_dir: Path, build: Path, coco: Path) -> Path:
    """`model_dir` with a val report of the FP16 IR too: one for agreement to score against the FP32 IR's."""
    poseforge("validate", build / "ir/fp16/model.xml", "--coco", coco, "--protocol", "val", "--no-speed", "-o",
              model_dir / "reports/ir-fp16-val.json")  # fmt: skip
    return model_dir


def _copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    return target


def _folder(path: Path) -> Path:
    path.mkdir()
    (path / "keep.txt").write_text("the user's")
    return path


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_a_file_output_never_replaces_the_users_file(
    case: str,
    omz_build: Path,
    coco3: Path,
    model_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "work"
    root.mkdir()
    args, names = FILE_CASES[case](root, omz_build, coco3, model_copy)
    before = snapshot(tmp_path, coco3, *(omz_build / f for f in ("model.pth", "model.onnx", "model.sim.onnx")))
    refused(cli(capsys, *args), *names)
    assert snapshot(tmp_path, coco3, *(omz_build / f for f in ("model.pth", "model.onnx", "model.sim.onnx"))) == before


def test_convert_keeps_the_users_bin_beside_a_new_xml(
    omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`convert -o data.xml` where data.bin is the user's (and no data.xml exists) must not replace data.bin."""
    data = _user_file(tmp_path / "data.bin", "the user's firmware")
    before = snapshot(tmp_path)
    refused(cli(capsys, "convert", omz_build / "model.sim.onnx", "-o", tmp_path / "data.xml"), data)
    assert snapshot(tmp_path) == before


def test_compare_never_replaces_the_report_it_reads(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compare A B -o A` replaced report A (a marked poseforge JSON, so claim() lets it go) by the comparison."""
    shutil.copytree(scored / "reports", tmp_path / "reports")
    a, b = tmp_path / "reports" / "ir-fp32-deploy.json", tmp_path / "reports" / "ir-fp32-val.json"
    before = snapshot(tmp_path)
    refused(cli(capsys, "compare", a, b, "-o", a), a)
    assert snapshot(tmp_path) == before


def test_baseline_never_replaces_a_results_file_it_is_made_from(
    gated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`baseline --baseline reports/results/ir-fp32-val.json` wrote the baseline over the results it
    re-derives the AP from (poseforge's record lets it replace its own results)."""
    model_dir = tmp_path / gated.name
    shutil.copytree(gated, model_dir, symlinks=True)
    results = model_dir / "reports/results/ir-fp32-val.json"
    edit_json(model_dir / "reports/ir-fp32-val.json", lambda report: report.update(results_file=str(results)))
    before = snapshot(tmp_path)
    refused(cli(capsys, "baseline", model_dir, "--baseline", results), results, "own input (the results")
    assert snapshot(tmp_path) == before


def test_report_writes_nothing_when_one_of_its_outputs_is_the_users(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report.md absent, report.png the user's: refused, and report.md must not appear (a partial output)."""
    model_dir = _report_dir(tmp_path, scored, "report.png")
    before = snapshot(tmp_path)
    refused(cli(capsys, "report", model_dir), model_dir / "report.png")
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory):
    """A read-only tmpfs holding an earlier output of poseforge's (root ignores chmod 555: a read-only mount it
    cannot)."""
    where = tmp_path_factory.mktemp("readonly") / "ro"
    with tmpfs(where, "1m") as ro:
        write_json(ro / "old.json", {"schema": "poseforge.report/2", "earlier": True})  # poseforge's: recorded
        remount_read_only(ro)
        yield ro


@pytest.mark.parametrize("command", ["export", "validate", "checkpoint"])
def test_a_read_only_place(
    command: str, read_only: Path, omz_build: Path, coco3: Path, assets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {
        "export": ["export", omz_build / "model.pth", "-o", read_only / "x.onnx"],
        "validate": ["validate", omz_build / "ir/fp32/model.xml", "--coco", coco3, "--protocol", "val", "--no-speed",
                     "-o", read_only / "old.json"],
        "checkpoint": ["checkpoint", assets / "upstream/lwop_random_checkpoint.pth", "-o", read_only / "sub/m.pth"],
    }[command]  # fmt: skip
    before = snapshot(read_only)
    refused(cli(capsys, *args), read_only, "read-only file system")
    assert snapshot(read_only) == before


@pytest.mark.parametrize("command", ["keygen", "compare"])
def test_a_read_only_place_named_by_a_relative_path(
    command: str, read_only: Path, scored: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same line for `-o ro/key` as for an absolute path (the temporary file's error names it absolute:
    keygen's reached the last resort, compare's printed the raw errno)."""
    monkeypatch.chdir(read_only.parent)
    reports = sorted((scored / "reports").glob("ir-fp32-*.json"))
    args = {
        "keygen": ["keygen", "-o", "ro/key"],
        "compare": ["compare", *reports, "--cross-protocol", "--resamples", "10", "-o", "ro/c.json"],
    }[command]
    before = snapshot(read_only)
    refused(cli(capsys, *args), f"cannot write ro/{args[-1][3:]}: read-only file system")
    assert snapshot(read_only) == before


def test_an_output_the_user_changed_is_theirs(scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """poseforge replaces what it wrote there as it wrote it; once the user edits it, it is the user's."""
    a, b = scored / "reports" / "ir-fp32-val.json", scored / "reports" / "ir-fp32-deploy.json"
    out = tmp_path / "comparison.json"
    args = ["compare", a, b, "--cross-protocol", "--resamples", "10", "-o", out]
    wrote(cli(capsys, *args), out)
    wrote(cli(capsys, *args), out)  # its own, unchanged: replaced
    out.write_text(out.read_text().replace('"dataset"', '"dataset_noted_by_me"'))
    before = snapshot(tmp_path)
    refused(cli(capsys, *args), out, "has changed since")
    assert snapshot(tmp_path) == before


def test_make_clean_removes_only_what_make_builds(tmp_path: Path) -> None:
    """`make clean DIST=elsewhere` once ran `rm -rf build dist`: the default dist/ (a user's wheel) went too."""
    model = "human-pose-estimation-0001"
    built = ("model.pth", "ir/fp32/model.xml", "ir/fp32/model.bin", f"ir/fp32/{LEDGER}", "reports/ir-fp32-val.json",
             "reports/results/ir-fp32-val.json", "reports/ir-int8-native@368.json",
             "reports/results/ir-int8-native@368.json", "report.md")  # fmt: skip
    made = [f"build/{model}/{rel}" for rel in built]
    made.append(f"elsewhere/{model}-int8.tar.gz")
    users = ["dist/poseforge-0.1.0-py3-none-any.whl", f"build/{model}/reports/my-notes.md", "build/other/model.pth",
             "elsewhere/notes.txt", f"elsewhere/{model}-int8.tar.gz.sig"]  # fmt: skip
    for rel in made + users:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    result = subprocess.run(["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-C", str(tmp_path), "clean",
                             "DIST=elsewhere"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(users)
    assert not (tmp_path / "build" / model / "ir").exists()  # emptied folders go, with their record


def test_fetch_never_writes_through_a_part_link(assets: Path, tmp_path: Path) -> None:
    """A `.part` that is a link to the user's file: that download is refused, the link and the file kept."""
    image = fetch.load_manifest("coco-mini")["images"][0]
    data = tmp_path / "data"
    folder = data / "coco-mini" / "val2017"
    (data / "coco-mini" / "annotations").mkdir(parents=True)
    shutil.copy(assets / "coco-mini/annotations/person_keypoints_val2017.json", data / "coco-mini/annotations")
    folder.mkdir()
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("the user's thesis")
    (folder / (image["file_name"] + ".part")).symlink_to(thesis)
    files = {i["file_name"]: (assets / "coco-mini/val2017" / i["file_name"]).read_bytes()
             for i in fetch.load_manifest("coco-mini")["images"]}  # fmt: skip
    with http_server(serve_files(files)) as proxy:
        outcome = run("fetch", "coco-mini", env=proxy_env(proxy, data), timeout=300)
    assert outcome.code == 1 and "Traceback" not in outcome.err
    assert outcome.err.splitlines()[-1].startswith("poseforge: error: 1 file missing")
    assert f"{image['file_name']}.part is a link" in outcome.err
    assert thesis.read_text() == "the user's thesis" and (folder / (image["file_name"] + ".part")).is_symlink()
    assert not (folder / image["file_name"]).exists()
    assert len(list(folder.glob("*.jpg"))) == len(files) - 1  # every other image arrived

"""Class 7, partial or stale results: a subset report never takes a full one's place unless asked,
an untrained network is never bundled unless asked, every command that writes says so, outputs
that belong together (report.md and its images) are replaced together or not at all, and two
fetches into one data directory both end with every file complete."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from poseforge import fetch
from poseforge.fileio import LEDGER
from tests.hostile.conftest import poseforge
from tests.hostile.helpers import (
    bench_document,
    cli,
    http_server,
    members,
    proxy_env,
    refused,
    serve_files,
    snapshot,
    wrote,
)


def test_validate_limit_without_o_is_refused(
    scored: Path, coco3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It would write build/<model>/reports/ir-fp32-val.json, the full report's place."""
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    refused(cli(capsys, "validate", scored / "ir/fp32/model.xml", "--coco", coco3, "--protocol", "val",
                "--no-speed", "--limit", "1"), "--limit 1", "needs its own -o")  # fmt: skip
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def subset_dir(scored: Path, coco3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder whose two reports were made with --limit 2 (of 3 images): subsets."""
    model_dir = tmp_path_factory.mktemp("subset") / scored.name
    (model_dir / "ir").mkdir(parents=True)
    (model_dir / "ir" / "fp32").symlink_to(scored / "ir" / "fp32")
    shutil.copytree(scored / "reports" / "speed", model_dir / "reports" / "speed")
    for protocol in ("val", "deploy"):
        poseforge("validate", model_dir / "ir/fp32/model.xml", "--coco", coco3, "--protocol", protocol, "--limit", "2",
                  "--speed", model_dir / "reports/speed/ir-fp32.json", "-o",
                  model_dir / "reports" / f"ir-fp32-{protocol}.json")  # fmt: skip
    bench = bench_document(model_dir, {"decode_over_latency": 0.05}, 2)
    (model_dir / "bench.json").write_text(json.dumps(bench))
    return model_dir


def test_validate_limit_writes_a_subset_report(subset_dir: Path) -> None:
    report = json.loads((subset_dir / "reports" / "ir-fp32-val.json").read_text())
    assert report["subset"] is True and report["images"] == 2 and report["dataset"]["images_total"] == 3


SUBSET_COMMANDS = {
    "report": lambda d, out: ["report", d],
    "baseline": lambda d, out: ["baseline", d, "--baseline", out / "baseline.json"],
    "bundle": lambda d, out: ["bundle", d / "ir/fp32/model.xml", "--reports", d / "reports", "-o", out / "b.tar.gz"],
}


@pytest.mark.parametrize("command", list(SUBSET_COMMANDS))
def test_a_subset_is_refused_unless_allowed(
    command: str, subset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / subset_dir.name
    shutil.copytree(subset_dir, model_dir, symlinks=True)
    out = tmp_path / "out"
    out.mkdir()
    args = SUBSET_COMMANDS[command](model_dir, out)
    before = snapshot(tmp_path)
    refused(cli(capsys, *args), "ir-fp32-", "subset", "--allow-subset")
    assert snapshot(tmp_path) == before
    written = {"report": model_dir / "report.md", "baseline": out / "baseline.json", "bundle": out / "b.tar.gz"}
    wrote(cli(capsys, *args, "--allow-subset"), written[command])
    assert written[command].is_file()


def test_the_gate_fails_on_a_subset_unless_allowed(
    subset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / subset_dir.name
    shutil.copytree(subset_dir, model_dir, symlinks=True)
    baseline = tmp_path / "baseline.json"
    wrote(cli(capsys, "baseline", model_dir, "--baseline", baseline, "--allow-subset"), baseline)
    outcome = cli(capsys, "gate", model_dir, "--baseline", baseline)
    refused(outcome, "accuracy gate failed", baseline)
    assert "a subset: 2 of 3 images" in outcome.out
    outcome = cli(capsys, "gate", model_dir, "--baseline", baseline, "--allow-subset")
    assert outcome.code == 0 and "FAIL" not in outcome.out, outcome.out + outcome.err


# --- an untrained network ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_init(coco3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/lightweight-openpose from `poseforge init` (random weights, one stage: the quickest export), exported,
    simplified, converted, timed and validated on the 3 images."""
    model_dir = tmp_path_factory.mktemp("random-init") / "lightweight-openpose"
    pth, onnx, xml = model_dir / "model.pth", model_dir / "model.onnx", model_dir / "ir" / "fp32" / "model.xml"
    simplified = model_dir / "model.sim.onnx"
    speed = model_dir / "reports" / "speed" / "ir-fp32.json"
    poseforge("init", "--model", "lightweight-openpose", "--stages", "1", "--seed", "0", "-o", pth)
    poseforge("export", pth, "-o", onnx)
    poseforge("simplify", onnx, "-o", simplified)
    poseforge("convert", simplified, "-o", xml)
    poseforge("speed", xml, "--coco", coco3, "-o", speed, "--iterations", "1", "--seconds", "0.1", "--limit", "1")
    for protocol in ("val", "deploy"):
        poseforge("validate", xml, "--coco", coco3, "--protocol", protocol, "--speed", speed, "-o",
                  model_dir / "reports" / f"ir-fp32-{protocol}.json")  # fmt: skip
    return model_dir


def test_a_random_init_network_is_not_bundled_unless_allowed(
    random_init: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml, out = random_init / "ir/fp32/model.xml", tmp_path / "dist" / "lwop-fp32.tar.gz"
    args = ["bundle", xml, "--reports", random_init / "reports", "-o", out]
    before = snapshot(tmp_path, random_init)
    refused(cli(capsys, *args), xml, "random-init", "--allow-untrained")
    assert snapshot(tmp_path, random_init) == before
    wrote(cli(capsys, *args, "--allow-untrained"), out)
    manifest = json.loads(members(out)["bundle.json"])
    assert "NOT trained" in manifest["source"]["notice"]


def found_nobody(path: Path) -> None:
    """The report at `path` as validate writes it for a network that finds nobody: no results, and every
    figure scored from none (an edited AP alone is refused as one its results do not give)."""
    from poseforge.validate.accuracy.compare import report_results
    from poseforge.validate.accuracy.intervals import match_images
    from poseforge.validate.accuracy.scoring import coco_keypoint_metrics
    from poseforge.validate.accuracy.validate import RESAMPLES, ap_interval

    report, _, image_ids, dataset = report_results(path)
    metrics = coco_keypoint_metrics(dataset.coco, [], image_ids)
    results = path.parent / "results" / path.name
    results.write_text("[]")
    report.update({k: v for k, v in metrics.items() if k != "summary"}, coco_summary=metrics["summary"],
                  interval=ap_interval(match_images(dataset.coco, [], image_ids), RESAMPLES), results_file=str(results),
                  results_sha256=hashlib.sha256(b"[]").hexdigest())  # fmt: skip
    path.write_text(json.dumps(report))


def test_a_val_ap_below_one_percent_is_not_bundled(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The metadata says trained, the val report says it finds nobody: untrained or broken."""
    found_nobody(model_copy / "reports" / "ir-fp32-val.json")
    out = tmp_path / "b.tar.gz"
    before = snapshot(tmp_path)
    refused(cli(capsys, "bundle", model_copy / "ir/fp32/model.xml", "--reports", model_copy / "reports", "-o", out),
            "val AP 0.000", "--allow-untrained")  # fmt: skip
    assert snapshot(tmp_path) == before


# --- every command that writes says what it wrote ------------------------------------------------------------------
# (init, export, simplify, convert, speed, validate and baseline say it in the fixtures: conftest.poseforge checks;
# report, baseline and bundle in the subset tests; predict in test_data_loss and test_resources.)
WRITERS = {  # name -> arguments from (the session's build, the assets, the 3-image COCO set, scored, a folder)
    "checkpoint": lambda b, a, c, s, to: ["checkpoint", a / "upstream/lwop_random_checkpoint.pth", "-o", to / "m.pth"],
    "reference-ir": lambda b, a, c, s, to: ["reference-ir", "--data", a, "-o", to / "ir" / "model.xml"],
    "convert": lambda b, a, c, s, to: ["convert", b / "model.sim.onnx", "--precision", "fp16", "-o", to / "m.xml"],
    "compare": lambda b, a, c, s, to: ["compare", s / "reports/ir-fp32-val.json", s / "reports/ir-fp32-deploy.json",
                                       "--cross-protocol", "--resamples", "10", "-o", to / "cmp.json"],
}  # fmt: skip


@pytest.mark.parametrize("command", list(WRITERS))
def test_a_writing_command_says_what_it_wrote(
    command: str,
    omz_build: Path,
    assets: Path,
    coco3: Path,
    scored: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = WRITERS[command](omz_build, assets, coco3, scored, tmp_path)
    output = Path(args[args.index("-o") + 1])
    wrote(cli(capsys, *args), output)
    leftovers = [p for p in output.parent.iterdir() if p.name.startswith(".") and p.name != LEDGER]
    assert output.is_file() and not leftovers


# --- outputs that belong together -------------------------------------------------------------------------------------
def test_a_report_that_fails_while_rendering_keeps_every_previous_file(
    scored: Path, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It had replaced report.md (and report.png) when the example drawing failed: a new report.md beside old images."""
    model_dir = tmp_path / "model"
    shutil.copytree(scored / "reports", model_dir / "reports")
    names = ["report.md", "report.png", "report-example.png"]
    wrote(cli(capsys, "report", model_dir, "--coco", coco3), *(model_dir / name for name in names))
    broken = tmp_path / "coco"  # the same annotations, every image undecodable: the example drawing fails
    shutil.copytree(coco3 / "annotations", broken / "annotations")
    (broken / "val2017").mkdir()
    for image in (coco3 / "val2017").iterdir():
        (broken / "val2017" / image.name).write_bytes(b"not a JPEG")
    shutil.copy(scored / "reports" / "ir-fp32-deploy.json", model_dir / "reports" / "ir-fp32-deploy.json")
    before = snapshot(tmp_path)
    refused(cli(capsys, "report", model_dir, "--coco", broken), broken / "val2017")
    assert snapshot(tmp_path) == before


# --- two fetches into one data directory ------------------------------------------------------------------------------
def test_two_fetches_into_one_data_directory_both_end_complete(assets: Path, tmp_path: Path) -> None:
    """Both once failed ("No such file or directory (....part)") and left images missing. The server holds every
    answer until the second fetch says it waits for the first; then both end, every image complete."""
    images = fetch.load_manifest("coco-mini")["images"]
    files = {i["file_name"]: (assets / "coco-mini/val2017" / i["file_name"]).read_bytes() for i in images}
    data = tmp_path / "data"
    (data / "coco-mini" / "annotations").mkdir(parents=True)  # present: only images are downloaded
    shutil.copy(assets / "coco-mini/annotations/person_keypoints_val2017.json", data / "coco-mini/annotations")
    release = threading.Event()
    serve = serve_files(files)

    def held(request: object, name: str) -> None:
        release.wait(120)
        serve(request, name)  # type: ignore[arg-type]

    args = [sys.executable, "-m", "poseforge.cli", "fetch", "coco-mini"]
    with http_server(held) as proxy:
        env = proxy_env(proxy, data)
        runs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]  # fmt: skip
        errors: list[list[str]] = [[], []]
        readers = [threading.Thread(target=lambda k=k: errors[k].extend(runs[k].stderr), daemon=True) for k in (0, 1)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 120
        while not any("waiting for another poseforge fetch" in line for err in errors for line in err):
            assert time.monotonic() < deadline and all(r.poll() is None for r in runs), errors
            time.sleep(0.05)
        release.set()
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        for reader in readers:
            reader.join()
    assert [run.returncode for run in runs] == [0, 0], errors
    assert all("coco-mini present, sha256 verified" in out for out in outputs), outputs
    folder = data / "coco-mini" / "val2017"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files  # complete, and no .part left
    assert not (data / fetch.FETCH_LOCK).exists()

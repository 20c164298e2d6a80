"""Class 7, partial or stale results: a subset report never takes a full one's place unless asked,
an untrained network is never bundled unless asked, and every command that writes says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.hostile.conftest import poseforge
from tests.hostile.helpers import bench_document, cli, edit_json, members, refused, snapshot, wrote


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


def test_a_val_ap_below_one_percent_is_not_bundled(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The metadata says trained, the val report says it finds nobody: untrained or broken."""
    edit_json(model_copy / "reports" / "ir-fp32-val.json", lambda r: r.update(ap=0.004))
    out = tmp_path / "b.tar.gz"
    before = snapshot(tmp_path)
    refused(cli(capsys, "bundle", model_copy / "ir/fp32/model.xml", "--reports", model_copy / "reports", "-o", out),
            "val AP 0.004", "--allow-untrained")  # fmt: skip
    assert snapshot(tmp_path) == before


# --- every command that writes says what it wrote ------------------------------------------------------------------
# (init, export, simplify, convert, speed, validate and baseline say it in the fixtures: conftest.poseforge checks;
# report, baseline and bundle in the subset tests; predict in test_data_loss and test_resources.)
WRITERS = {  # name -> arguments from (the session's build, the assets, the 3-image COCO set, scored, a folder)
    "checkpoint": lambda b, a, c, s, to: ["checkpoint", a / "upstream/lwop_random_checkpoint.pth", "-o", to / "m.pth"],
    "reference-ir": lambda b, a, c, s, to: ["reference-ir", "--data", a, "-o", to / "ir" / "model.xml"],
    "convert": lambda b, a, c, s, to: ["convert", b / "model.sim.onnx", "--precision", "fp16", "-o", to / "m.xml"],
    "compare": lambda b, a, c, s, to: ["compare", s / "reports/ir-fp32-val.json", s / "reports/ir-fp32-deploy.json",
                                       "--resamples", "10", "-o", to / "cmp.json"],
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
    assert output.is_file() and not [p for p in output.parent.iterdir() if p.name.startswith(".")]

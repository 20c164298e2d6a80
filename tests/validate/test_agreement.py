"""Agreement with FP32 on real networks: an INT8 made deliberately worse shows in agreement where AP
cannot tell, and the gate fails it there; reports carry the figure, report.md and `poseforge
agreement` show it with intervals and ours - Intel's, the baseline records it per machine class,
images are scored without labels, and a bundle carries it.

The default INT8 is the session's (quantize's defaults, tests/conftest.py default_int8), in the gate's
model folder; the worse one is calibrated on five coco-calib images on which the FP32 network finds
nobody, its output convolutions in floating point (quantized on person-free images they collapse AP,
a regression anything catches). Their intervals are compared on coco-mini under the deploy protocol,
the one calibration pre-processes as; the gate judges them on its own 12 images.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from poseforge.bundle.build import build_bundle
from poseforge.documents import AGREEMENT, read_document
from poseforge.errors import PoseforgeError
from poseforge.images import image_files
from poseforge.ir_files import ir_metadata, read_ir
from poseforge.quantize.calibration import count_people
from poseforge.quantize.ptq import quantize_ir
from poseforge.quantize.settings import QuantizeSettings
from poseforge.runtime import open_runner
from poseforge.runtime.options import ACCURACY
from poseforge.validate.accuracy.agreement import agreement
from poseforge.validate.accuracy.agreement_reports import ReportScorer
from poseforge.validate.accuracy.compare import report_matches
from poseforge.validate.accuracy.intervals import paired_difference
from poseforge.validate.accuracy.validate import read_report, validate_artifact
from poseforge.validate.gate import read_baseline, run_gate, write_baseline
from poseforge.validate.reporting.report import write_report
from tests.conftest import run_cli
from tests.validate.conftest import SMALL_SWEEP, make_coco

CALIB_CANDIDATES = 20  # the first coco-calib images (by name) searched for five person-free ones


def reports_of(model_dir: Path) -> Path:
    return model_dir / "reports"


def machine_class(model_dir: Path) -> str:
    return read_report(reports_of(model_dir) / "ir-int8-val.json")["machine"]["class"]


def copy_model_dir(gate_build: Path, target: Path) -> Path:
    """A copy of the gate's model folder (its IRs linked: they are only read), reports and bench copied."""
    shutil.copytree(reports_of(gate_build), reports_of(target))
    shutil.copy(gate_build / "bench.json", target / "bench.json")
    (target / "ir").mkdir()
    for precision in ("fp32", "int8"):
        (target / "ir" / precision).symlink_to(gate_build / "ir" / precision)
    return target


@pytest.fixture(scope="module")
def worse_int8(gate_build: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An INT8 made worse on purpose: calibrated on five coco-calib images on which the FP32 network
    finds nobody (under the deploy protocol, as calibration sees them), with fast bias correction and
    the output convolutions kept in floating point."""
    root = tmp_path_factory.mktemp("worse")
    fp32 = gate_build / "ir" / "fp32" / "model.xml"
    candidates = image_files(assets / "coco-calib" / "train2017")[:CALIB_CANDIDATES]
    people, _ = count_people(open_runner(fp32, ACCURACY.replace(shape=(1, 3, 256, 456))), candidates)
    empty = [path for path, found in zip(candidates, people, strict=True) if found == 0][:5]
    assert len(empty) == 5, people
    (root / "empty").mkdir()
    for path in empty:
        shutil.copy(path, root / "empty" / path.name)
    out = root / "int8" / "model.xml"
    settings = QuantizeSettings(subset_size=5, select="name", fast_bias_correction=True, ignore_heads=True)
    quantize_ir(fp32, out, root / "empty", settings)
    return out


@pytest.fixture(scope="module")
def worse_dir(gate_build: Path, worse_int8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate's model folder with a baseline from its own reports (the default INT8), then its INT8
    replaced by the worse one and validated again: the run a regression would make."""
    root = tmp_path_factory.mktemp("worse-dir")
    write_baseline(gate_build, root / "baseline.json")
    model_dir = copy_model_dir(gate_build, root / gate_build.name)
    (model_dir / "ir" / "int8").unlink()
    shutil.copytree(worse_int8.parent, model_dir / "ir" / "int8")
    for protocol in ("val", "deploy"):
        validate_artifact(model_dir / "ir" / "int8" / "model.xml", gate_build.parent / "coco", protocol,
                          reports_of(model_dir) / f"ir-int8-{protocol}.json", measure=False)  # fmt: skip
    return model_dir


@pytest.fixture(scope="module")
def on_mini(gate_build: Path, worse_int8: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FP32 IR, the default INT8 and the worse one validated on coco-mini (deploy protocol), the
    INT8 reports scoring their agreement against the FP32 report beside them."""
    reports = tmp_path_factory.mktemp("mini") / "reports"
    irs = {"ir-fp32": gate_build / "ir" / "fp32" / "model.xml", "ir-int8": gate_build / "ir" / "int8" / "model.xml",
           "worse": worse_int8}  # fmt: skip
    for name, ir in irs.items():
        validate_artifact(ir, assets / "coco-mini", "deploy", reports / f"{name}-deploy.json", measure=False)
    return reports


def test_the_worse_int8_drops_in_agreement_beyond_its_interval_where_ap_cannot_tell(on_mini: Path) -> None:
    default, worse = on_mini / "ir-int8-deploy.json", on_mini / "worse-deploy.json"
    scorer = ReportScorer()
    _, agreed_default = scorer.matches(default, on_mini / "ir-fp32-deploy.json")
    _, agreed_worse = scorer.matches(worse, on_mini / "ir-fp32-deploy.json")
    drop = paired_difference(agreed_default, agreed_worse)
    assert drop.high < 0, drop  # the paired interval of agreement(worse) - agreement(default) excludes 0
    ap = paired_difference(report_matches(default)[1], report_matches(worse)[1])
    assert ap.low < 0 < ap.high, ap  # AP's does not
    fields = [read_report(path)["agreement"] for path in (default, worse)]
    assert fields[1]["ap"] - fields[0]["ap"] == pytest.approx(drop.ap)  # what the reports carry


def test_the_gate_fails_the_worse_int8_through_its_agreement(worse_dir: Path) -> None:
    baseline = worse_dir.parent / "baseline.json"
    cls = machine_class(worse_dir)
    expected = read_baseline(baseline)["classes"][cls]["agreement"]["ir-int8"]["deploy"]
    checks = {c.name: c for c in run_gate(worse_dir, baseline).checks}
    check = checks[f"ir-int8 deploy agreement on {cls}"]
    assert check.verdict == "FAIL" and float(check.measured) < expected["agreement"] - expected["tolerance"]
    assert any(cause.startswith("artifact_sha256") for cause in check.causes), check.causes
    assert any(cause.startswith("calibration") for cause in check.causes), check.causes
    # Whether its AP rows fail too on these 12 images follows the class's kernels (on AMX they pass,
    # on AVX2 they fail): that AP cannot tell where agreement can is the paired test on coco-mini above.
    result = run_cli("gate", str(worse_dir), "--baseline", str(baseline))
    assert result.returncode == 1 and "ir-int8 deploy agreement" in result.stdout
    assert result.stderr.startswith("poseforge: error: accuracy gate failed") and "Traceback" not in result.stderr


def test_reports_carry_their_agreement_and_the_reference_none(gate_build: Path) -> None:
    reference = read_report(reports_of(gate_build) / "ir-fp32-val.json")
    assert reference.get("agreement") is None
    field = read_report(reports_of(gate_build) / "ir-int8-val.json")["agreement"]
    assert field["reference"] == {"artifact": "ir-fp32", "report": "ir-fp32-val.json",
                                  "artifact_sha256": reference["artifact_sha256"],
                                  "results_sha256": reference["results_sha256"]}  # fmt: skip
    assert 0 < field["interval"]["low"] <= field["ap"] <= field["interval"]["high"] <= 1
    assert field["people"] == field["interval"]["people"] > 0 and "FP32 IR's people" in field["rule"]


def test_the_baseline_records_agreement_per_class_and_the_gate_rescores_it(gate_build: Path, tmp_path: Path) -> None:
    model_dir = copy_model_dir(gate_build, tmp_path / gate_build.name)
    baseline = tmp_path / "baseline.json"
    write_baseline(model_dir, baseline)
    cls = machine_class(model_dir)
    section = read_baseline(baseline)["classes"][cls]
    assert set(section["agreement"]) == {"ir-int8"} and set(section["agreement"]["ir-int8"]) == {"val", "deploy"}
    entry = section["agreement"]["ir-int8"]["val"]
    assert entry["tolerance"] == 0.02 and entry["people"] > 0
    assert entry["provenance"]["reference_sha256"] == read_report(reports_of(model_dir) / "ir-fp32-val.json")[
        "artifact_sha256"]  # fmt: skip
    verdicts = {c.name: c.verdict for c in run_gate(model_dir, baseline).checks}
    assert verdicts[f"ir-int8 val agreement on {cls}"] == verdicts[f"ir-int8 deploy agreement on {cls}"] == "pass"

    path = reports_of(model_dir) / "ir-int8-val.json"
    report = json.loads(path.read_text())
    report["agreement"]["ap"] = 0.99  # an edited figure: the results give another
    path.write_text(json.dumps(report))
    check = {c.name: c for c in run_gate(model_dir, baseline).checks}[f"ir-int8 val agreement on {cls}"]
    assert check.verdict == "FAIL" and "says agreement 0.9900 but its results give" in check.causes[0]

    poisoned = json.loads(baseline.read_text())
    poisoned["classes"][cls]["agreement"]["ir-int8"]["val"]["tolerance"] = -0.1
    (tmp_path / "poisoned.json").write_text(json.dumps(poisoned))
    with pytest.raises(PoseforgeError, match=r"agreement\.ir-int8\.val\.tolerance"):
        run_gate(model_dir, tmp_path / "poisoned.json")

    (reports_of(model_dir) / "ir-fp32-deploy.json").unlink()
    check = {c.name: c for c in run_gate(model_dir, baseline).checks}[f"ir-int8 deploy agreement on {cls}"]
    assert check.verdict == "FAIL" and "no reports/ir-fp32-deploy.json" in check.causes[0]


@pytest.fixture(scope="module")
def with_intel(gate_build: Path, omz_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate's model folder with Intel's INT8 release validated beside ours (val and deploy)."""
    model_dir = copy_model_dir(gate_build, tmp_path_factory.mktemp("intel") / gate_build.name)
    (model_dir / "ir" / "omz-int8").symlink_to(omz_build / "ir" / "omz-int8")
    for protocol in ("val", "deploy"):
        validate_artifact(model_dir / "ir" / "omz-int8" / "model.xml", gate_build.parent / "coco", protocol,
                          reports_of(model_dir) / f"omz-int8-{protocol}.json", measure=False)  # fmt: skip
    return model_dir


def test_report_md_shows_agreement_with_intervals_and_ours_against_intels(with_intel: Path) -> None:
    write_report(with_intel)
    text = (with_intel / "report.md").read_text()
    assert "agreement with ir-fp32 [95%]" in text
    scorer = ReportScorer()
    for name in ("ir-int8", "omz-int8"):
        for protocol in ("val", "deploy"):
            _, matches = scorer.matches(reports_of(with_intel) / f"{name}-{protocol}.json",
                                        reports_of(with_intel) / f"ir-fp32-{protocol}.json")  # fmt: skip
            row = next(line for line in text.splitlines() if line.startswith(f"| {name} | {protocol} |"))
            assert row.split(" | ")[4].startswith(f"{agreement(matches):.3f} [")
    for protocol in ("val", "deploy"):
        assert f"**ir-int8 - omz-int8** (ours - Intel's release), {protocol} protocol, paired: agreement " in text
    assert (with_intel / "report.png").is_file()


def test_the_agreement_command_from_reports(with_intel: Path, tmp_path: Path) -> None:
    out = tmp_path / "agreement.json"
    result = run_cli("agreement", str(with_intel), "-o", str(out))
    assert result.returncode == 0, result.stderr
    document = read_document(out, AGREEMENT)
    tables = {t["protocol"]: t for t in document["tables"]}
    assert set(tables) == {"val", "deploy"} and set(tables["val"]["runs"]) == {"ir-int8", "omz-int8"}
    assert set(tables["deploy"]["differences"]) == {"ir-int8 - omz-int8"}
    val = tables["val"]
    assert f"ir-int8 - omz-int8: {val['differences']['ir-int8 - omz-int8']['ap']:+.4f}" in result.stdout
    assert f"{val['people']} ir-fp32 people as ground truth" in result.stdout


def test_the_agreement_command_on_images_without_labels(gate_build: Path, worse_int8: Path, assets: Path,
                                                        tmp_path: Path) -> None:  # fmt: skip
    """A folder of coco-calib images and the gate's photos of people (no labels): the images either INT8
    calibrated on are left out (the default INT8 calibrated on every coco-calib image with people)."""
    folder = tmp_path / "footage"
    folder.mkdir()
    photos = [*image_files(assets / "coco-calib" / "train2017")[:CALIB_CANDIDATES],
              *image_files(gate_build.parent / "coco" / "val2017")]  # fmt: skip
    for path in photos:
        shutil.copy(path, folder / path.name)
    calibrated = {name for ir in (gate_build / "ir" / "int8" / "model.xml", worse_int8)
                  for name in ir_metadata(read_ir(ir), ir)["quantization"]["calibration"]["files"]}  # fmt: skip
    used = calibrated & {path.name for path in photos}
    out = tmp_path / "agreement.json"
    result = run_cli("agreement", str(gate_build), "--images", str(folder), "--protocol", "deploy",
                     "--artifact", f"worse={worse_int8}", "--versus", "worse", "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = read_document(out, AGREEMENT)["tables"][0]
    assert 5 < table["left_out"] == len(used) and table["images"] == len(photos) - len(used)
    assert {"ir-int8", "worse"} <= set(table["runs"]) and table["protocol"] == "deploy"
    assert table["left_out_because"] == ["ir-int8", "worse"]
    assert "ir-int8 - worse" in table["differences"] and not any(k.endswith("omz-int8") for k in table["differences"])
    assert f"{table['left_out']} images left out (calibrated ir-int8, worse)" in result.stdout


def test_an_int8_bundle_carries_its_agreement(gate_build: Path, tmp_path: Path) -> None:
    """Its reports validated again with speed (a bundle needs it), the agreement scored as before."""
    model_dir = copy_model_dir(gate_build, tmp_path / gate_build.name)
    int8, coco = model_dir / "ir" / "int8" / "model.xml", gate_build.parent / "coco"
    speed = validate_artifact(int8, coco, "deploy", reports_of(model_dir) / "ir-int8-deploy.json",
                              speed_seconds=0.3)["speed"]  # fmt: skip
    validate_artifact(int8, coco, "val", reports_of(model_dir) / "ir-int8-val.json", speed=speed)
    bundle = tmp_path / "int8.tar.gz"
    manifest = build_bundle(model_dir / "ir" / "int8" / "model.xml", reports_of(model_dir), bundle)
    for protocol in ("val", "deploy"):
        assert manifest["measured"][protocol]["agreement"] == read_report(reports_of(model_dir) / (
            f"ir-int8-{protocol}.json"))["agreement"]  # fmt: skip
    result = run_cli("verify", str(bundle))
    assert result.returncode == 0, result.stderr
    assert "agreement with ir-fp32" in result.stdout


def test_a_reference_that_is_not_one_is_refused_before_the_run(gate_build: Path, tmp_path: Path) -> None:
    result = run_cli("validate", str(gate_build / "ir" / "int8" / "model.xml"), "--coco",
                     str(gate_build.parent / "coco"), "--protocol", "val", "--no-speed", "-o", str(tmp_path / "r.json"),
                     "--reference", str(reports_of(gate_build) / "ir-int8-val.json"))  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "is the val report of ir-int8, not the val report of ir-fp32" in result.stderr
    assert not (tmp_path / "r.json").exists()


SWEEP = SMALL_SWEEP + '\n[[rows]]\nname = "mixed"\npreset = "mixed"\n'


def test_a_sweep_row_carries_its_agreement_and_the_table_how_to_rank_rows_on_held_out_images(
    omz_build: Path, assets: Path, tmp_path: Path
) -> None:
    """The row's agreement on the set it is scored on, and the command sweep.md gives for images
    disjoint from both its calibration and that set: run as given (on its first 12 images), it
    leaves out the four that calibrated."""
    from poseforge.quantize.sweep import in_process, run_sweep
    from poseforge.quantize.sweep_settings import read_sweep

    coco = make_coco(tmp_path / "coco", assets, 4)
    settings = tmp_path / "sweep.toml"
    settings.write_text(SWEEP.format(fp32=omz_build / "ir/fp32/model.xml", coco=coco))
    table = run_sweep(read_sweep(settings, assets), tmp_path / "out", in_process, say=lambda line: None)
    (row,) = table["rows"]
    report = read_report(Path(row["report"]))
    assert row["agreement"]["ap"] == report["agreement"]["ap"] and row["agreement"]["people"] > 0
    text = (tmp_path / "out" / "sweep.md").read_text()
    assert f"| {row['agreement']['ap']:.3f} [" in text
    command = next(line.strip() for line in text.splitlines() if line.strip().startswith("poseforge agreement "))
    out = tmp_path / "held-out.json"
    result = run_cli(*shlex.split(command)[1:], "--limit", "12", "-o", str(out))
    assert result.returncode == 0, result.stderr
    held_out = read_document(out, AGREEMENT)["tables"][0]
    assert held_out["left_out"] == 4 and held_out["images"] == 12 and set(held_out["runs"]) == {"mixed"}


@pytest.fixture
def two_photos(assets: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in image_files(assets / "coco-mini" / "val2017")[:2]:
        shutil.copy(path, folder / path.name)
    return folder


def test_an_artifact_whose_path_holds_an_equals_sign_is_that_path(
    omz_build: Path, two_photos: Path, tmp_path: Path
) -> None:
    """`--artifact DIR/preset=fp16/model.xml` was NAME `DIR/preset`, PATH `fp16/model.xml`: not found, or
    another file where the working folder holds one; a sweep's row name `preset=fp16` (its printed
    held-out command) was NAME `preset`."""
    ir = tmp_path / "runs" / "preset=fp16" / "model.xml"
    shutil.copytree(omz_build / "ir" / "fp16", ir.parent)
    out = tmp_path / "a.json"
    result = run_cli("agreement", str(omz_build / "ir" / "fp32" / "model.xml"), "--images", str(two_photos),
                     "--artifact", str(ir), "--artifact", f"preset=fp16={ir}", "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(read_document(out, AGREEMENT)["tables"][0]["runs"]) == {str(ir), "preset=fp16"}


def test_an_artifact_named_as_the_reference_is_refused(omz_build: Path, two_photos: Path, tmp_path: Path) -> None:
    """An INT8 named ir-fp32 printed `ir-fp32 agreement 0.9` against ir-fp32 itself."""
    fp16 = omz_build / "ir" / "fp16" / "model.xml"
    result = run_cli("agreement", str(omz_build / "ir" / "fp32" / "model.xml"), "--images", str(two_photos),
                     "--artifact", f"ir-fp32={fp16}", "-o", str(tmp_path / "a.json"))  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "ir-fp32 is the reference every run is scored against" in result.stderr
    assert not (tmp_path / "a.json").exists()

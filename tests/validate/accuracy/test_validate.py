"""The validate stage on the real network and coco-mini: the issue's accuracy targets, and the
report every later stage (report.md, the gate, bundles) reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from poseforge.artifacts import artifact_digest, report_key
from poseforge.errors import PoseforgeError
from poseforge.preprocess import prepare
from poseforge.quantize.ptq import quantize_ir
from poseforge.quantize.settings import QuantizeSettings
from poseforge.runtime import Runner
from poseforge.validate.accuracy import validate
from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.shards import Sharding, ShardJob, open_validation_runner
from poseforge.validate.accuracy.validate import default_report_path, read_report, validate_artifact
from poseforge.validate.reporting.report import write_report
from tests.bundle.made import Made
from tests.conftest import MINI_VAL_ARTIFACTS, run_cli


def test_reference_release_reaches_the_upstream_figure(mini_val_reports: dict[str, dict]) -> None:
    """omz-int8, val protocol: AP >= 0.432, the upstream procedure's figure on the same artifact."""
    assert mini_val_reports["omz-int8"]["ap"] >= 0.432
    assert mini_val_reports["omz-int8"]["images"] == 79


def test_runtimes_agree_and_fp32_beats_its_int8_source(mini_val_reports: dict[str, dict]) -> None:
    aps = {name: r["ap"] for name, r in mini_val_reports.items()}
    same_network = [aps[n] for n in ("torch", "ir-fp32")]
    assert max(same_network) - min(same_network) <= 0.002, aps
    assert abs(aps["ir-fp16"] - aps["ir-fp32"]) <= 0.005, aps
    assert aps["ir-fp32"] >= aps["omz-int8"], aps  # imported FP32 at least as accurate as the INT8 release


def test_report_fields_and_results_file(mini_val_reports: dict[str, dict], omz_build: Path) -> None:
    report = read_report(omz_build / "reports" / "ir-fp32-val.json")
    fields = ("artifact", "model", "protocol", "images", "ap", "ap50", "ap75", "ar", "latency_ms", "throughput_fps",
              "decode_ms", "e2e_fps", "threads", "precision_hint", "machine", "versions")  # fmt: skip
    for key in fields:
        assert key in report, key
    assert report["precision_hint"] == "f32" and report["threads"] >= 1
    assert {"cpu", "cores", "isa"} <= report["machine"].keys()
    results = json.loads(Path(report["results_file"]).read_text())
    assert results and {"image_id", "category_id", "keypoints", "score"} == results[0].keys()
    assert len(results[0]["keypoints"]) == 51


def test_deploy_protocol_with_speed(made: Made) -> None:
    """The deploy report `make bundle` had validate write for the session's bundle (tests/bundle/made.py:
    the IR on coco-mini, with 1 s of speed), read rather than measured a second time."""
    report = read_report(made.model_dir / "reports" / "ir-fp32-deploy.json")
    assert report["protocol"] == "deploy" and 0.2 < report["ap"] < report_ap(made.model_dir, "ir-fp32", "val") + 0.05
    assert report["latency_ms"]["median"] > 0 and report["latency_ms"]["p90"] >= report["latency_ms"]["median"]
    assert report["throughput_fps"] > 0 and report["e2e_fps"] > 0 and report["decode_ms"] > 0
    assert report["speed"]["throughput_settings"]["performance_hint"] == "THROUGHPUT"
    assert report["speed"]["latency_settings"]["performance_hint"] == "LATENCY"


def test_validate_times_the_artifact_itself_without_a_speed_file(omz_build: Path, small_coco: Path,
                                                                  tmp_path: Path) -> None:  # fmt: skip
    """A user's `poseforge validate` without --speed: the speed block is measured after the accuracy run."""
    artifact = omz_build / MINI_VAL_ARTIFACTS["omz-int8"]
    report = validate_artifact(artifact, small_coco, "deploy", tmp_path / "r.json", speed_seconds=0.3)
    assert report["latency_ms"]["median"] > 0 and report["throughput_fps"] > 0 and report["e2e_fps"] > 0
    assert report["speed"]["throughput_settings"]["performance_hint"] == "THROUGHPUT"
    assert read_report(tmp_path / "r.json")["speed"] == report["speed"]


def report_ap(build: Path, artifact: str, protocol: str) -> float:
    return read_report(build / "reports" / f"{artifact}-{protocol}.json")["ap"]


def test_report_md_and_png(mini_val_reports: dict[str, dict], omz_build: Path, assets: Path) -> None:
    written = write_report(omz_build, assets / "coco-mini")
    assert [p.name for p in written] == ["report.md", "report.png", "report-example.png"]
    text = (omz_build / "report.md").read_text()
    header = (
        "| artifact | protocol | AP [95% interval] | AP - ir-fp32 [paired 95%] | agreement with ir-fp32 [95%] | AP50 | "
        "AR | size MB |"
    )
    assert header in text and "68 annotated people" in text and "| reference | reference |" in text
    assert "No bench.json" in text  # speed figures come from one interleaved run, and none was made here
    for name in MINI_VAL_ARTIFACTS:
        assert f"| {name} | val |" in text
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines() if " | val | " in line}
    assert rows["torch"][4].startswith("1.000 [")  # the same network: the same poses
    assert float(rows["omz-int8"][4].split()[0]) < float(rows["ir-fp16"][4].split()[0]) <= 1.0
    assert (omz_build / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (omz_build / "report-example.png").stat().st_size > 10_000


def test_validate_refuses_the_wrong_kind_of_artifact(tmp_path: Path, assets: Path) -> None:
    for name, content in (("weights.txt", "x"), ("model.xml", "<net/>"), ("model.pth", "not torch")):
        path = tmp_path / name
        path.write_text(content)
        result = run_cli("validate", str(path), "--coco", str(assets / "coco-mini"), "--protocol", "val")
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("poseforge: error:") and result.stderr.count("\n") == 1, result.stderr


def test_a_bad_image_stops_the_run_or_is_counted(omz_build: Path, small_coco: Path, tmp_path: Path) -> None:
    bad = sorted((small_coco / "val2017").iterdir())[0]
    bad.write_bytes(b"not a jpeg")
    artifact = str(omz_build / MINI_VAL_ARTIFACTS["omz-int8"])
    out = tmp_path / "r.json"
    result = run_cli("validate", artifact, "--coco", str(small_coco), "--protocol", "val", "--no-speed", "-o", str(out))
    assert result.returncode == 1 and bad.name in result.stderr and not out.exists()
    result = run_cli("validate", artifact, "--coco", str(small_coco), "--protocol", "val", "--no-speed", "-o",
                     str(out), "--skip-bad")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["skipped_images"] == [bad.name] and report["images"] == 2


def test_native_at_another_height_is_a_run_of_its_own(omz_build: Path, small_coco: Path, tmp_path: Path) -> None:
    """The native protocol at input height 320: the network sees 320-tall inputs, the report records the
    height and is named by it, and its AP is its own, not the default height's."""
    ir = omz_build / MINI_VAL_ARTIFACTS["ir-fp32"]
    at_default = validate_artifact(ir, small_coco, "native", tmp_path / "a.json", measure=False)
    at_320 = validate_artifact(ir, small_coco, "native", tmp_path / "b.json", measure=False, input_height=320)
    assert at_default["input_height"] == 256 and at_320["input_height"] == 320
    assert report_key(at_default) == "native" and report_key(at_320) == "native@320"
    assert default_report_path(at_320).name == "ir-fp32-native@320.json"
    assert read_report(tmp_path / "b.json")["input_height"] == 320
    a, b = (json.loads((tmp_path / "results" / name).read_text()) for name in ("a.json", "b.json"))
    assert a != b  # other inputs, other poses
    image = cv2.imread(str(next((small_coco / "val2017").iterdir())))
    assert prepare(image, "native", input_height=320).image.shape[0] == 320


def test_a_height_is_the_native_protocols_only(omz_build: Path, small_coco: Path, tmp_path: Path) -> None:
    ir = str(omz_build / MINI_VAL_ARTIFACTS["ir-fp32"])
    out = tmp_path / "r.json"
    result = run_cli("validate", ir, "--coco", str(small_coco), "--protocol", "val", "--height", "320", "-o", str(out))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "--height sets the native protocol's input height" in result.stderr and not out.exists()
    with pytest.raises(PoseforgeError, match="an input height is the native protocol's"):
        validate_artifact(ir, small_coco, "deploy", out, measure=False, input_height=320)


@pytest.fixture(scope="module")
def int8_on_first_two(omz_build: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An INT8 IR calibrated on a folder holding coco-mini's first two images under other names."""
    calib = tmp_path_factory.mktemp("mine")
    for i, image in enumerate(CocoKeypoints(assets / "coco-mini").images(2)):
        shutil.copy(image.path, calib / f"frame{i}.jpg")
    int8 = tmp_path_factory.mktemp("int8") / "model.xml"
    settings = QuantizeSettings(select="name", subset_size=2, fast_bias_correction=True)
    quantize_ir(omz_build / "ir" / "fp32" / "model.xml", int8, calib, settings)
    return int8


def test_an_int8_ir_is_not_scored_on_the_images_it_was_calibrated_on(int8_on_first_two: Path, assets: Path,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    """The rule held only where quantize was told the set (--coco): an INT8 IR calibrated on a folder holding
    coco-mini's first images under other names was scored on coco-mini by validate without a word."""
    coco, int8, output = assets / "coco-mini", int8_on_first_two, tmp_path / "r.json"
    with pytest.raises(PoseforgeError, match=f"{int8} was calibrated on 2 images of the 4 it would be scored on"):
        validate_artifact(int8, coco, "val", output, measure=False, limit=4)
    assert not output.exists()
    report = validate_artifact(int8, coco, "val", output, measure=False, limit=4, allow_overlap=True)
    names = ", ".join(image.file_name for image in CocoKeypoints(coco).images(2))
    assert f"calibrated on 2 images of the 4 scored ({names}): the AP here is optimistic" in report["notes"]


def copy_ir(source: Path, target: Path) -> None:
    """An IR's two files copied over another's: a release deployed in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".xml", ".bin"):
        shutil.copy(source.with_suffix(suffix), target.with_suffix(suffix))


def test_the_calibration_checked_is_that_of_the_network_that_runs(
    int8_on_first_two: Path, omz_build: Path, assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """validate read the artifact's metadata for its calibration check, then opened the artifact again to
    run it: an FP32 IR replaced by the INT8 calibrated on the images between the two opens was scored on
    them with no refusal. The check is now on the metadata of the runner that runs, before its first image."""
    ir, output = tmp_path / "ir" / "model.xml", tmp_path / "r.json"
    copy_ir(omz_build / "ir" / "fp32" / "model.xml", ir)
    opened = []

    def open_replaced(job: ShardJob) -> Runner:
        copy_ir(int8_on_first_two, ir)
        opened.append(job.artifact)
        return open_validation_runner(job)

    monkeypatch.setattr(validate, "open_validation_runner", open_replaced)
    with pytest.raises(PoseforgeError, match=f"{ir} was calibrated on 2 images of the 4 it would be scored on"):
        validate_artifact(ir, assets / "coco-mini", "val", output, measure=False, limit=4)
    assert opened == [str(ir)] and not output.exists()


def test_a_worker_refuses_a_network_other_than_the_one_checked(
    int8_on_first_two: Path, omz_build: Path, assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """Sharded, the workers open the artifact: one replaced after the coordinating process checked its
    calibration (and before it hashed the files the workers must see) was scored with no refusal. A worker
    now refuses a network whose calibration record is not the one checked, before its first image."""
    ir, output = tmp_path / "ir" / "model.xml", tmp_path / "r.json"
    copy_ir(omz_build / "ir" / "fp32" / "model.xml", ir)

    def digest_replaced(path: str | Path) -> str:
        copy_ir(int8_on_first_two, ir)
        return artifact_digest(path)

    monkeypatch.setattr(validate, "artifact_digest", digest_replaced)
    here = Sharding(lambda run, shards: [run(shard) for shard in shards], 2, {"scheduler": "this process"})
    with pytest.raises(PoseforgeError, match=f"{ir} on .* is not the network whose calibration was checked"):
        validate_artifact(ir, assets / "coco-mini", "val", output, measure=False, limit=4, sharding=here)
    assert not output.exists()

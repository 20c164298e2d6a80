"""The gate: passes on its own baseline, turns red on a worse report, judges each row against the
section of the machine class it was measured on (unchecked, not failed, where the baseline has
none), re-derives every AP from its results, and is closed by construction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.validate.gate import read_baseline, run_gate, upgrade_baseline, write_baseline
from tests.conftest import run_cli
from tests.validate.conftest import GATE_IMAGES, HEIGHT, linked_copy

OTHER = "arm64-neon-2c"  # a class the baseline has no section for


@pytest.fixture
def model_dir(gate_build: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (the IRs are linked: they are only read), with a baseline from its own reports."""
    copy = linked_copy(gate_build, tmp_path)
    write_baseline(copy, tmp_path / "baseline.json")
    return copy


def edit(path: Path, **changes) -> None:
    """Change fields of a JSON file; a__b is a["b"]; a callable value maps the old one."""
    data = json.loads(path.read_text())
    for key, value in changes.items():
        target = data
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value(target[leaf]) if callable(value) else value
    path.write_text(json.dumps(data))


def edit_report(model_dir: Path, name: str, **changes) -> None:
    edit(model_dir / "bench.json" if name == "bench" else model_dir / "reports" / f"{name}.json", **changes)


def edit_baseline(model_dir: Path, **changes) -> None:
    edit(model_dir.parent / "baseline.json", **changes)


def running_class(model_dir: Path) -> str:
    return json.loads((model_dir / "bench.json").read_text())["machine"]["class"]


def move_to_class(model_dir: Path, machine_class: str) -> None:
    """The reports and bench as if measured on a machine of another class (what a CI host of that
    kind writes): their recorded machine class, nothing else."""
    for path in [*(model_dir / "reports").glob("*.json"), model_dir / "bench.json"]:
        edit(path, machine__class=machine_class, machine__cpu="Another CPU")


def bound_verdicts(model_dir: Path) -> dict[str, str]:
    """What each INT8 accuracy bound must say, from the reports themselves: the small set's quick
    INT8 may lose more than its tolerance to FP32 on one machine class and not on another."""
    reports = {p.stem: json.loads(p.read_text()) for p in (model_dir / "reports").glob("*.json")}
    return {f"ir-int8 {protocol} AP - ir-fp32 (bound, any class)":
            "pass" if reports[f"ir-int8-{protocol}"]["ap"] - reports[f"ir-fp32-{protocol}"]["ap"] >= -0.01 else "FAIL"
            for protocol in ("val", "deploy")}  # fmt: skip


def checks(model_dir: Path) -> dict:
    return {c.name: c for c in run_gate(model_dir, model_dir.parent / "baseline.json").checks}


def verdicts(model_dir: Path) -> dict[str, str]:
    return {name: c.verdict for name, c in checks(model_dir).items()}


def gate_cli(model_dir: Path):
    return run_cli("gate", str(model_dir), "--baseline", str(model_dir.parent / "baseline.json"))


def test_a_baseline_passes_against_its_own_reports(model_dir: Path) -> None:
    baseline = read_baseline(model_dir.parent / "baseline.json")
    machine_class = running_class(model_dir)
    assert set(baseline["accuracy"]) == {"ir-fp32"}  # exact: the same on every class
    section = baseline["classes"][machine_class]
    assert set(section["accuracy"]) == {"ir-int8"} and section["machine"]["class"] == machine_class
    assert set(section["ratios"]) == {"int8_over_fp32_throughput", "decode_over_latency", "e2e_over_throughput"}
    assert section["ratios"]["int8_over_fp32_throughput"]["artifacts"].keys() == {"ir-fp32", "ir-int8"}
    assert baseline["dataset"]["images"] == GATE_IMAGES and baseline["dataset"]["name"] == "coco"
    assert "not a population claim" in baseline["claim"]
    result = verdicts(model_dir)
    bounds = bound_verdicts(model_dir)
    assert {name: verdict for name, verdict in result.items() if name in bounds} == bounds
    assert {verdict for name, verdict in result.items() if name not in bounds} == {"pass"}, result
    assert f"ir-int8 val AP on {machine_class}" in result and "ir-int8 val AP - ir-fp32 (bound, any class)" in result
    assert "decode_over_latency (bound, any class)" in result
    cli = gate_cli(model_dir)
    assert cli.returncode == (1 if "FAIL" in bounds.values() else 0), cli.stdout + cli.stderr
    assert f"measured on {machine_class}" in cli.stdout and "not a population claim" in cli.stdout
    assert "checks hold" in cli.stdout and "unchecked" not in cli.stdout


def test_a_worse_report_turns_the_gate_red_and_says_why(model_dir: Path) -> None:
    machine_class = running_class(model_dir)
    entry = f"classes__{machine_class}__accuracy__ir-int8__val"
    edit_baseline(model_dir, **{f"{entry}__ap": lambda ap: ap + 0.05,
                                f"{entry}__provenance__calibration__sha256": "f" * 64})  # fmt: skip
    check = checks(model_dir)[f"ir-int8 val AP on {machine_class}"]
    assert check.verdict == "FAIL" and any(cause.startswith("calibration") for cause in check.causes)
    result = gate_cli(model_dir)
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "because: calibration" in result.stdout
    assert result.stderr.startswith("poseforge: error: accuracy gate failed") and "ir-int8 val AP" in result.stderr


def test_a_calibration_folder_at_another_path_is_not_a_cause(model_dir: Path) -> None:
    machine_class = running_class(model_dir)
    entry = f"classes__{machine_class}__accuracy__ir-int8__val"
    edit_baseline(model_dir, **{f"{entry}__ap": lambda ap: ap + 0.05,
                                f"{entry}__provenance__calibration__folder": "/elsewhere/train2017"})  # fmt: skip
    check = checks(model_dir)[f"ir-int8 val AP on {machine_class}"]
    assert check.verdict == "FAIL" and not any("calibration" in cause for cause in check.causes), check.causes


def test_the_same_bytes_on_another_machine_name_the_machine(model_dir: Path) -> None:
    """An exact artifact's AP recorded on another class, its bytes unchanged: the cause is the machine."""
    baseline = model_dir.parent / "baseline.json"
    edit(baseline, **{"accuracy__ir-fp32__val__ap": lambda ap: ap + 0.05,
                      "accuracy__ir-fp32__val__provenance__machine_class": OTHER})  # fmt: skip
    check = checks(model_dir)["ir-fp32 val AP"]
    assert check.verdict == "FAIL"
    assert any(c.startswith(f"machine {OTHER} -> {running_class(model_dir)}") and "bytes are unchanged" in c
               for c in check.causes), check.causes  # fmt: skip
    edit(baseline, **{"accuracy__ir-fp32__val__provenance__machine_class": running_class(model_dir)})
    assert "poseforge's own" in checks(model_dir)["ir-fp32 val AP"].causes[0]


def test_a_class_the_baseline_lacks_is_unchecked_not_failed(model_dir: Path) -> None:
    move_to_class(model_dir, OTHER)
    result = run_gate(model_dir, model_dir.parent / "baseline.json")
    assert result.classes == [OTHER] and result.missing_classes == [OTHER]
    by_name = {c.name: c.verdict for c in result.checks}
    assert by_name["ir-fp32 val AP"] == "pass"  # exact: checked on every class
    assert by_name[f"ir-int8 val AP on {OTHER}"] == "unchecked"
    assert by_name[f"int8_over_fp32_throughput on {OTHER} (higher is better)"] == "unchecked"
    bounds = bound_verdicts(model_dir)
    assert {name: by_name[name] for name in bounds} == bounds  # bounds: checked on every class
    assert by_name["e2e_over_throughput (bound, any class)"] == "pass"
    assert {c.name for c in result.failed} == {name for name, verdict in bounds.items() if verdict == "FAIL"}
    cli = gate_cli(model_dir)
    assert cli.returncode == (1 if result.failed else 0), cli.stdout + cli.stderr
    assert f"{OTHER} (not in the baseline)" in cli.stdout
    assert f"unchecked: the baseline has no section for {OTHER}" in cli.stdout


def test_a_bound_still_fails_on_an_unknown_class(model_dir: Path) -> None:
    move_to_class(model_dir, OTHER)
    # A slow end to end, as measured: the figure and the ratio bench computes from it.
    throughput = json.loads((model_dir / "bench.json").read_text())["figures"]["network"]["throughput_fps"]
    edit_report(model_dir, "bench", figures__network__e2e_fps=0.3 * throughput, ratios__e2e_over_throughput=0.3)
    check = checks(model_dir)["e2e_over_throughput (bound, any class)"]
    assert check.verdict == "FAIL" and check.expected == ">= 0.7"


def test_baseline_adds_a_class_and_keeps_the_others(model_dir: Path) -> None:
    baseline_path = model_dir.parent / "baseline.json"
    first_class = running_class(model_dir)
    move_to_class(model_dir, OTHER)
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline_path))
    assert result.returncode == 0, result.stderr
    assert f"int8_over_fp32_throughput on {OTHER}: - ->" in result.stdout
    baseline = read_baseline(baseline_path)
    assert set(baseline["classes"]) == {first_class, OTHER}
    assert baseline["classes"][OTHER]["machine"]["cpu"] == "Another CPU"
    bounds = bound_verdicts(model_dir)
    assert {verdict for name, verdict in verdicts(model_dir).items() if name not in bounds} == {"pass"}


def test_a_version_2_baseline_is_upgraded_with_its_machine_section() -> None:
    old = {
        "schema": "poseforge.baseline/2", "model": "m", "dataset": {"annotations_sha256": "a" * 64,
        "image_ids_sha256": "b" * 64, "images": 3},
        "accuracy": {
            "ir-fp32": {"val": {"ap": 0.45, "tolerance": 0.005, "images": 3,
                                "provenance": {"artifact_sha256": "1" * 64}}},
            "ir-int8": {"val": {"ap": 0.44, "tolerance": 0.01, "images": 3,
                                "provenance": {"artifact_sha256": "2" * 64}}},
        },
        "ratios": {"int8_over_fp32_throughput": {"expected": 1.97, "tolerance": 0.25, "better": "higher"}},
        "measured_on": {"machine": {"cpu": "AMD EPYC", "cores": 2, "isa": ["avx2", "fma"]}},
    }  # fmt: skip
    new = upgrade_baseline(old)
    assert new["schema"] == "poseforge.baseline/3" and set(new["accuracy"]) == {"ir-fp32"}
    section = new["classes"]["x86-avx2-2c"]
    assert set(section["accuracy"]) == {"ir-int8"} and section["machine"]["tier"] == "x86-avx2"
    assert section["ratios"]["int8_over_fp32_throughput"]["artifacts"] == {"ir-fp32": "1" * 64, "ir-int8": "2" * 64}


def test_make_baseline_replaces_the_committed_version_2_file_and_keeps_its_class(model_dir: Path) -> None:
    """The committed baseline was never in poseforge's record of what it wrote: a /2 file there is read,
    upgraded and replaced (its machine's section kept); a JSON that is no baseline of any version is not."""
    path = model_dir.parent / "baseline.json"
    current = read_baseline(path)
    section = next(iter(current["classes"].values()))
    old = {
        "schema": "poseforge.baseline/2", "model": current["model"], "dataset": current["dataset"],
        "accuracy": {**current["accuracy"], **section["accuracy"]},
        "ratios": {name: {k: v for k, v in entry.items() if k != "artifacts"}
                   for name, entry in section["ratios"].items()},
        "measured_on": {"machine": {"cpu": "AMD EPYC", "cores": 4, "isa": ["avx2", "fma"]}},
    }  # fmt: skip
    committed = model_dir.parent / "committed.json"
    committed.write_text(json.dumps(old))
    write_baseline(model_dir, committed)
    upgraded = read_baseline(committed)
    assert set(upgraded["classes"]) == {*current["classes"], "x86-avx2-4c"}
    assert upgraded["classes"]["x86-avx2-4c"]["machine"]["cpu"] == "AMD EPYC"
    foreign = model_dir.parent / "foreign.json"
    foreign.write_text(json.dumps({"schema": "something/1"}))
    with pytest.raises(PoseforgeError, match="not replaced"):
        write_baseline(model_dir, foreign)
    assert json.loads(foreign.read_text()) == {"schema": "something/1"}


def test_an_edited_ap_is_caught_by_rescoring_its_results(model_dir: Path) -> None:
    edit_report(model_dir, "ir-fp32-val", ap=0.95)
    check = checks(model_dir)["ir-fp32 val AP"]
    assert check.verdict == "FAIL" and check.measured == "not comparable"
    assert "says ap 0.9500 but its results score" in check.causes[0]
    with pytest.raises(PoseforgeError, match="its results score"):
        write_baseline(model_dir, model_dir.parent / "baseline.json")


def test_a_bench_must_list_what_its_ratios_measure(model_dir: Path) -> None:
    edit_report(model_dir, "bench", artifacts=lambda a: {k: v for k, v in a.items() if k != "ir-int8"})
    with pytest.raises(PoseforgeError, match="int8_over_fp32_throughput but does not list ir-int8"):
        run_gate(model_dir, model_dir.parent / "baseline.json")


def test_a_better_report_passes_and_says_so(model_dir: Path) -> None:
    edit_baseline(model_dir, **{"accuracy__ir-fp32__val__ap": lambda ap: ap - 0.05})
    assert verdicts(model_dir)["ir-fp32 val AP"] == "better"


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"subset": True}, "a subset"),
        ({"images": GATE_IMAGES - 1}, "other images"),
        ({"dataset__image_ids_sha256": "0" * 64}, "other images"),
        ({"protocol": "deploy"}, "holds the deploy report"),
        ({"artifact": "ir-fp16"}, "holds the val report of ir-fp16"),
        ({"dataset__annotations_sha256": "0" * 64}, "other annotations"),
        ({"model": "lightweight-openpose"}, "report of model lightweight-openpose"),
        ({"artifact_sha256": "0" * 64}, "stale: measured on another version"),
    ],
)
def test_a_report_that_does_not_match_fails_with_its_cause(model_dir: Path, change: dict, cause: str) -> None:
    edit_report(model_dir, "ir-fp32-val", **change)
    check = checks(model_dir)["ir-fp32 val AP"]
    assert check.verdict == "FAIL" and check.measured == "not comparable" and cause in check.causes[0]


def test_an_artifact_changed_after_validation_fails(model_dir: Path) -> None:
    """Swapping model.bin for other bytes of the same size makes every report of it stale."""
    ir = model_dir / "ir" / "fp32"
    real = ir.resolve()
    ir.unlink()
    shutil.copytree(real, ir)
    weights = bytearray((ir / "model.bin").read_bytes())
    weights[1000:1004] = bytes(4)
    (ir / "model.bin").write_bytes(bytes(weights))
    result = checks(model_dir)
    for protocol in ("val", "deploy"):
        check = result[f"ir-fp32 {protocol} AP"]
        assert check.verdict == "FAIL" and "stale" in check.causes[0]
    assert result[f"ir-int8 val AP on {running_class(model_dir)}"].verdict == "pass"
    ratios = [c for name, c in result.items() if "is better" in name]
    assert ratios and all(c.verdict == "FAIL" and "another version of" in c.causes[0] for c in ratios)
    with pytest.raises(PoseforgeError, match="measured another version of"):
        write_baseline(model_dir, model_dir / "new-baseline.json")


def class_key(model_dir: Path, rest: str) -> str:
    return f"classes__{running_class(model_dir)}__{rest}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accuracy__ir-fp32__val__ap": float("nan")}, "not a valid baseline"),
        ({"accuracy__ir-fp32__val__tolerance": float("nan")}, "not a valid baseline"),
        ({"ratios__e2e_over_throughput__expected": float("nan")}, "not a valid baseline"),
        ({"accuracy__ir-fp32__val__ap": True}, "expected a number"),
        ({"accuracy__ir-fp32__val__tolerance": -0.1}, "tolerance"),
        ({"accuracy": {}}, "0 entries"),
        ({"classes": {}}, "0 entries"),
        ({"accuracy__ir-fp32": {}}, "0 entries"),
        ({"schema": "poseforge.baseline/1"}, "not a poseforge baseline"),
        ({"ratios__e2e_over_throughput__better": "sideways"}, "better"),
        ({"machine__class": "Not A Class!"}, "machine.class"),
    ],
)
def test_a_poisoned_baseline_cannot_pass(model_dir: Path, change: dict, message: str) -> None:
    baseline = model_dir.parent / "baseline.json"
    data = json.loads(baseline.read_text())
    for key, value in change.items():
        if key.startswith(("ratios", "machine")):
            key = class_key(model_dir, key)
        target = data
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    baseline.write_text(json.dumps(data))  # json writes NaN as NaN: not JSON, and refused
    with pytest.raises(PoseforgeError, match=message):
        run_gate(model_dir, baseline)
    result = gate_cli(model_dir)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [({"ap": float("nan")}, "not a valid report"), ({"ap": True}, "expected a number"), ({"ap": 1.5}, "field ap")],
)
def test_a_poisoned_report_cannot_pass(model_dir: Path, change: dict, message: str) -> None:
    edit_report(model_dir, "ir-fp32-val", **change)
    with pytest.raises(PoseforgeError, match=message):
        run_gate(model_dir, model_dir.parent / "baseline.json")


def test_a_missing_report_fails(model_dir: Path) -> None:
    (model_dir / "reports" / "ir-fp32-deploy.json").unlink()
    (model_dir / "reports" / "ir-int8-deploy.json").unlink()
    result = verdicts(model_dir)
    assert (
        result["ir-fp32 deploy AP"] == "FAIL" and result[f"ir-int8 deploy AP on {running_class(model_dir)}"] == "FAIL"
    )


def test_a_missing_or_foreign_bench_fails_every_ratio(model_dir: Path) -> None:
    edit_report(model_dir, "bench", model="openpose-vgg19")
    ratio_checks = [c for name, c in checks(model_dir).items() if "better)" in name]
    assert len(ratio_checks) == 3 and all(c.verdict == "FAIL" and "openpose-vgg19" in c.causes[0] for c in ratio_checks)
    (model_dir / "bench.json").unlink()
    ratio_checks = [c for name, c in checks(model_dir).items() if "speed ratio" in name]
    assert len(ratio_checks) == 3 and all(c.verdict == "FAIL" and c.measured == "no bench.json" for c in ratio_checks)


def test_missing_baseline_and_no_reports_are_errors(model_dir: Path, tmp_path: Path) -> None:
    result = run_cli("gate", str(model_dir), "--baseline", str(tmp_path / "absent.json"))
    assert result.returncode == 1 and "baseline not found" in result.stderr
    empty = tmp_path / "empty"
    (empty / "reports").mkdir(parents=True)
    result = run_cli("gate", str(empty), "--baseline", str(model_dir.parent / "baseline.json"))
    assert result.returncode == 1 and "the gate cannot pass" in result.stderr


def test_rewriting_the_baseline_shows_what_changed(model_dir: Path) -> None:
    baseline = model_dir.parent / "baseline.json"
    edit(baseline, **{"accuracy__ir-fp32__val__ap": 0.5})
    current = json.loads((model_dir / "reports" / "ir-fp32-val.json").read_text())["ap"]
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline))
    assert result.returncode == 0, result.stderr
    assert f"ir-fp32 val AP: 0.5000 ± 0.005 -> {current:.4f}" in result.stdout
    assert read_baseline(baseline)["accuracy"]["ir-fp32"]["val"]["ap"] == round(current, 4)


def test_a_baseline_refuses_subsets_and_mixed_image_sets(model_dir: Path) -> None:
    baseline = model_dir.parent / "baseline.json"
    before = baseline.read_bytes()
    edit_report(model_dir, "ir-fp32-val", subset=True)
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline))
    assert result.returncode == 1 and "subset" in result.stderr and baseline.read_bytes() == before
    edit_report(model_dir, "ir-fp32-val", subset=False, dataset__image_ids_sha256="0" * 64)
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline))
    assert result.returncode == 1 and "mixed image sets" in result.stderr and baseline.read_bytes() == before


def test_native_heights_are_rows_of_their_own(height_build: Path, tmp_path: Path) -> None:
    """`<artifact>-native@320.json`: the FP32 IR's row in the exact section, INT8's in its class's, both
    recorded by the baseline and judged by the gate; a report whose height is not its name's fails."""
    model_dir = linked_copy(height_build, tmp_path)
    write_baseline(model_dir, tmp_path / "baseline.json")
    baseline = read_baseline(tmp_path / "baseline.json")
    machine_class = running_class(model_dir)
    assert set(baseline["accuracy"]["ir-fp32"]) == {"val", "deploy", "native", f"native@{HEIGHT}"}
    assert set(baseline["classes"][machine_class]["accuracy"]["ir-int8"]) == {"val", "deploy", "native",
                                                                             f"native@{HEIGHT}"}  # fmt: skip
    reports = {p.stem: json.loads(p.read_text()) for p in (model_dir / "reports").glob("*.json")}
    assert baseline["accuracy"]["ir-fp32"][f"native@{HEIGHT}"]["ap"] == round(
        reports[f"ir-fp32-native@{HEIGHT}"]["ap"], 4
    )
    result = verdicts(model_dir)
    assert result[f"ir-fp32 native@{HEIGHT} AP"] == "pass"
    assert result[f"ir-int8 native@{HEIGHT} AP on {machine_class}"] == "pass"
    assert f"ir-int8 native@{HEIGHT} AP - ir-fp32 (bound, any class)" not in result  # a price, not a bound
    assert "ir-int8 native AP - ir-fp32 (bound, any class)" in result

    edit_report(model_dir, f"ir-fp32-native@{HEIGHT}", input_height=368)  # a 368 report under the 320 name
    check = checks(model_dir)[f"ir-fp32 native@{HEIGHT} AP"]
    assert check.verdict == "FAIL" and check.causes == [f"ir-fp32-native@{HEIGHT}.json holds the native@368 report "
                                                        "of ir-fp32"]  # fmt: skip
    (model_dir / "reports" / f"ir-fp32-native@{HEIGHT}.json").rename(model_dir / "reports" / "ir-fp32-native@321.json")
    cli = gate_cli(model_dir)
    assert cli.returncode == 1 and cli.stderr.count("\n") == 1, cli.stderr
    assert "ir-fp32-native@321.json is not named <artifact>-<protocol>.json" in cli.stderr

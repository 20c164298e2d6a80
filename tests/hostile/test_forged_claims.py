"""Class 8, forged claims: a bundle whose bundle.json (or a file it cites) was edited and every sha256
and size in it recomputed, so that the hashes all vouch for it. Each claim that something else in
the bundle contradicts (the network's own metadata and graph, the reports the bundle carries, the
shape its speed was measured at) is refused by `verify` and `predict` with one line naming the
bundle and the field, before anything runs or is written. A forgery consistent in every part is
what a signature is for (tests/bundle/test_signing.py).

Each forgery starts from the session's real bundle (`made`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.bundle.made import HEIGHT, Made
from tests.hostile.helpers import cli, edit_ir_metadata, edit_json, members, refused, rehashed, repack, snapshot

Files = dict[str, bytes]


def manifest_edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[Files], Files]:
    return lambda files: rehashed(files, change)


def report_edit(name: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    """Change a report inside the bundle (then bundle.json is re-hashed by the caller)."""

    def edit(files: Files) -> None:
        report = json.loads(files[name])
        change(report)
        files[name] = json.dumps(report, indent=1).encode()

    return edit


def every_report(change: Callable[[dict[str, Any]], Any]) -> Callable[[Files], None]:
    """Change every report the bundle carries (each protocol, height and precision hint)."""

    def edit(files: Files) -> None:
        for name in [n for n in files if n.startswith("report-")]:
            report_edit(name, change)(files)

    return edit


def forged(*edits: Callable[[Files], Any], manifest: Callable[[dict[str, Any]], Any] | None = None):
    """Apply `edits` to the members (each changes the dict in place), then `manifest` to bundle.json, and re-hash."""

    def forge(files: Files) -> Files:
        files = dict(files)
        for edit in edits:
            edit(files)
        return rehashed(files, manifest)

    return forge


def network_metadata(change: Callable[[dict[str, Any]], Any]) -> Callable[[Files], None]:
    def edit(files: Files) -> None:
        files["model.xml"] = edit_ir_metadata(files["model.xml"], change)

    return edit


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted key (a.b.c) of a document."""

    def change(data: dict[str, Any]) -> None:
        *parents, leaf = key.split(".")
        for parent in parents:
            data = data[parent]
        data[leaf] = value

    return change


def both(*changes: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change


SHAPE = [1, 3, 4096, 4096]
CASES: dict[str, tuple[Callable[[Files], Files], str]] = {
    # what bundle.json says about the network, against the network's own metadata
    "another model's name": (
        manifest_edit(setting("model", "lightweight-openpose")),
        # the first report read names it: report-deploy.bf16.json where the CPU runs bf16, else report-deploy.json
        ".json is a report of human-pose-estimation-0001, not of lightweight-openpose",
    ),
    "another model's name in the reports too": (
        forged(
            every_report(setting("model", "lightweight-openpose")), manifest=setting("model", "lightweight-openpose")
        ),
        "bundle.json model is 'lightweight-openpose' where the network's own metadata says "
        "'human-pose-estimation-0001'",
    ),
    "int8 on an fp32 network": (
        manifest_edit(setting("precision", "int8")),
        "bundle.json precision is 'int8' where the network's own metadata says 'fp32'",
    ),
    "int8 in the network's metadata too": (
        forged(
            network_metadata(both(setting("precision", "int8"), setting("artifact", "bundle-int8"))),
            manifest=both(setting("precision", "int8"), setting("artifact", "bundle-int8")),
        ),
        "its network is fp32 where its metadata and bundle.json say int8",
    ),
    "a heatmap threshold of 1.0": (
        manifest_edit(setting("decoder.heatmap_threshold", 1.0)),
        "bundle.json decoder.heatmap_threshold is 1.0 where the network's own metadata says 0.1",
    ),
    "a rewritten licence notice": (
        manifest_edit(setting("source.notice", "Weights in the public domain.")),
        "bundle.json source.notice is 'Weights in the public domain.' where the network's own metadata says",
    ),
    "a rewritten licence": (
        manifest_edit(setting("source.license", "MIT")),
        "bundle.json source.license is 'MIT' where the network's own metadata says 'Apache-2.0",
    ),
    "another source IR": (
        forged(every_report(setting("artifact_sha256", "0" * 64)), manifest=setting("source_ir.sha256", "0" * 64)),
        "bundle.json source_ir.sha256 is '0000000000000000000000000000000000000000000000000000000000000000' where "
        "the network's own metadata says",
    ),
    # the deploy shape: against the shape its speed was measured at, and the network's metadata
    "a deploy shape of 8x8": (
        manifest_edit(setting("input.deploy_shape", [8, 8])),
        "bundle.json input.deploy_shape [8, 8] is not the shape its speed was measured at ([256, 456])",
    ),
    "a deploy shape of 4096x4096 with its speed shape": (
        manifest_edit(both(setting("input.deploy_shape", SHAPE[2:]), setting("measured.speed.shape", SHAPE))),
        "bundle.json measured.speed.shape[2] is 4096 where its reports say 256",
    ),
    "a deploy shape of 4096x4096 in bundle.json and the report": (
        forged(
            report_edit("report-deploy.json", setting("speed.shape", SHAPE)),
            manifest=both(setting("input.deploy_shape", SHAPE[2:]), setting("measured.speed.shape", SHAPE)),
        ),
        "bundle.json input.deploy_shape[0] is 4096 where the network's own metadata says 256",
    ),
    # the measured figures: against the reports the bundle carries
    "a measured AP of 0.99": (
        manifest_edit(setting("measured.val.ap", 0.99)),
        "bundle.json measured.val.ap is 0.99 where its reports say 0.",
    ),
    "34000 people": (
        manifest_edit(setting("measured.deploy.people", 34000)),
        "bundle.json measured.deploy.people is 34000 where its reports say 68",
    ),
    "another image set": (
        manifest_edit(setting("measured.native.image_set", "val2017")),
        "bundle.json measured.native.image_set is 'val2017' where its reports say 'coco-mini'",
    ),
    "the speed of another machine": (
        manifest_edit(setting("measured.speed.throughput_fps", 500.0)),
        "bundle.json measured.speed.throughput_fps is 500.0 where its reports say",
    ),
    "an agreement with FP32 its reports do not measure": (
        manifest_edit(
            setting(
                "measured.val.agreement",
                {
                    "ap": 0.99,
                    "people": 5,
                    "rule": "mine",
                    "interval": {"low": 0.98, "high": 1.0, "level": 0.95, "resamples": 1000},
                    "reference": {
                        "artifact": "ir-fp32",
                        "report": "ir-fp32-val.json",
                        "artifact_sha256": "0" * 64,
                        "results_sha256": "0" * 64,
                    },
                },
            )
        ),
        "bundle.json measured.val.agreement is {'ap': 0.99, ",
    ),
    "an interval with low above high": (
        manifest_edit(both(setting("measured.val.interval.low", 0.9), setting("measured.val.interval.high", 0.1))),
        "measured.val.interval: low 0.9 is above high 0.1",
    ),
    "a report with low above high": (
        forged(report_edit("report-val.json", both(setting("interval.low", 0.9), setting("interval.high", 0.1)))),
        "report-val.json: report field interval: low 0.9 is above high 0.1",
    ),
    "the deploy report as the val report": (
        forged(lambda files: files.update({"report-val.json": files["report-deploy.json"]})),
        "report-val.json is the deploy report of ir-fp32, not the val report of ir-fp32",
    ),
    "a report of another IR": (
        forged(report_edit("report-native.json", setting("artifact_sha256", "1" * 64))),
        "report-native.json was measured on another IR (sha256 111111111111...)",
    ),
    # the native protocol at another input height: its own report, its own figure
    "an AP at height 320 of 0.99": (
        manifest_edit(setting(f"measured.native_heights.{HEIGHT}.ap", 0.99)),
        f"bundle.json measured.native_heights.{HEIGHT}.ap is 0.99 where its reports say 0.",
    ),
    "the height 320 report saying 368": (
        forged(report_edit(f"report-native@{HEIGHT}.json", setting("input_height", 368))),
        f"report-native@{HEIGHT}.json is the native@368 report of ir-fp32, not the native@{HEIGHT} report of ir-fp32",
    ),
    "a height measured without its report": (
        manifest_edit(lambda m: m["measured"]["native_heights"].update({"368": m["measured"]["native"]})),
        "report-native@368.json",
    ),
    "a report without its measured figure": (
        forged(lambda files: files.pop("report-native.json"), manifest=lambda m: m["files"].pop("report-native.json")),
        f"report-deploy.json, report-native.json, report-native@{HEIGHT}.json",  # (bundle.json lists ..., not ...)
    ),
    "a network without the decoder defaults in its metadata": (
        forged(network_metadata(lambda meta: meta.pop("decoder"))),
        "model.xml: bundle IR metadata field decoder: missing",
    ),
}


@pytest.fixture(scope="module")
def good(made: Made) -> Files:
    return members(made.bundle)


@pytest.mark.parametrize("command", ["verify", "predict"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_forged_claim_is_refused(
    case: str, command: str, good: Files, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forge, message = CASES[case]
    bundle = repack(tmp_path / "forged.tar.gz", forge(good))
    args = {"verify": ["verify", bundle], "predict": ["predict", bundle, coco3 / "val2017", "-o", tmp_path / "out"]}
    before = snapshot(tmp_path)
    refused(cli(capsys, *args[command]), "forged.tar.gz", message)
    assert snapshot(tmp_path) == before


def test_the_real_bundle_repacked_verifies(good: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The cases above fail for their forgery alone: the same members re-hashed and re-packed verify."""
    bundle = repack(tmp_path / "same.tar.gz", rehashed(good))
    outcome = cli(capsys, "verify", bundle)
    assert outcome.code == 0 and "verified" in outcome.out, outcome.err


FAKE_TRUST = f"trust: bundle sha256:{'ab' * 32}, signed by trusted key ed25519:{'cd' * 32} (release.key.pub)"


@pytest.mark.parametrize("command", ["verify", "predict"])
def test_a_notice_cannot_print_a_line_of_its_own(
    command: str, good: Files, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A consistent forgery (bundle.json and the network's metadata agree) whose licence notice holds
    a line break, a forged trust line and an escape that hides what follows: printed escaped, on one line."""
    notice = f"Apache-2.0.\n{FAKE_TRUST}\x1b[8m"
    forge = forged(network_metadata(setting("source.notice", notice)), manifest=setting("source.notice", notice))
    bundle = repack(tmp_path / "forged\x1b[2K.tar.gz", forge(good))
    args = {"verify": ["verify", bundle], "predict": ["predict", bundle, coco3 / "val2017", "-o", tmp_path / "out"]}
    outcome = cli(capsys, *args[command])
    assert outcome.code == 0, outcome.err
    assert "\x1b" not in outcome.out and not any(line.startswith(FAKE_TRUST) for line in outcome.out.splitlines())
    assert "licence: Apache-2.0.\\ntrust: bundle sha256:abab" in outcome.out  # the notice, shown as it is
    assert sum(line.startswith("trust: ") for line in outcome.out.splitlines()) == 1, outcome.out


def test_bundle_refuses_a_report_with_low_above_high(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The writer side: a report whose interval is upside down never becomes a bundle's claim."""
    report = edit_json(model_copy / "reports" / "ir-fp32-val.json",
                       both(setting("interval.low", 0.9), setting("interval.high", 0.1)))  # fmt: skip
    out = tmp_path / "b.tar.gz"
    before = snapshot(tmp_path)
    refused(cli(capsys, "bundle", model_copy / "ir/fp32/model.xml", "--reports", model_copy / "reports", "-o", out),
            report, "field interval: low 0.9 is above high 0.1")  # fmt: skip
    assert snapshot(tmp_path) == before


# --- the writer side: a report whose figures its results do not give (every hash it pins still holds) --------------
def without(key: str) -> Callable[[dict[str, Any]], None]:
    """Remove a dotted key (a.b.c) of a document."""

    def change(data: dict[str, Any]) -> None:
        *parents, leaf = key.split(".")
        for parent in parents:
            data = data[parent]
        del data[leaf]

    return change


# name -> (the edit of ir-fp32-val.json, what the refusal says)
EDITED_FIGURES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "a better AP, AR and interval": (
        both(setting("ap", 0.93), setting("ar", 0.99), setting("interval.low", 0.9), setting("interval.high", 0.95)),
        "says ap 0.9300 but its results score",
    ),
    "a better AR": (setting("ar", 0.99), "says ar 0.9900 but its results score"),
    "another interval": (
        both(setting("interval.low", 0.6), setting("interval.high", 0.7)),
        "says interval.high 0.7 but its results give",
    ),
    "34000 people": (setting("dataset.people", 34000), "says dataset.people 34000 but its images and annotations give"),
    "a full set of more images": (setting("dataset.images_total", 5000), "says dataset.images_total 5000 but"),
    "another image set's name": (setting("dataset.name", "val2017"), "says dataset.name val2017 but its images"),
    "an interval without its seed": (without("interval.seed"), "says an interval without its seed"),
    "an interval of a billion resamples": (setting("interval.resamples", 10**9), "field interval.resamples"),
}


@pytest.mark.parametrize("command", ["bundle", "report"])
@pytest.mark.parametrize("case", list(EDITED_FIGURES))
def test_a_figure_its_results_do_not_give_is_refused(
    case: str, command: str, model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bundle and report copied such a report's figures as they stood (a bundle that then verified, a
    report.md row beside a paired difference scored from its results)."""
    change, message = EDITED_FIGURES[case]
    report = edit_json(model_copy / "reports" / "ir-fp32-val.json", change)
    args = {"bundle": ["bundle", model_copy / "ir/fp32/model.xml", "--reports", model_copy / "reports", "-o",
                       tmp_path / "b.tar.gz"], "report": ["report", model_copy]}  # fmt: skip
    before = snapshot(tmp_path)
    refused(cli(capsys, *args[command]), report, message)
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def variant(scored: Path, omz_build: Path, coco3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`scored` with the FP16 IR beside its FP32 IR, validated too (val and deploy, with speed): the
    reports of a run other than the FP32 IR's own, which carry their agreement with it. (Not a bf16
    run of the FP32 IR: a CPU without native bf16, AVX2's, runs that hint as f32.)"""
    from tests.hostile.conftest import poseforge

    model_dir = tmp_path_factory.mktemp("variant") / scored.name
    shutil.copytree(scored, model_dir, symlinks=True)
    shutil.copytree(omz_build / "ir" / "fp16", model_dir / "ir" / "fp16")
    xml, reports = model_dir / "ir" / "fp16" / "model.xml", model_dir / "reports"
    speed = reports / "speed" / "ir-fp16.json"
    poseforge("speed", xml, "--coco", coco3, "--iterations", "1", "--seconds", "0.1", "--limit", "1", "-o", speed)
    for protocol in ("val", "deploy"):
        poseforge("validate", xml, "--coco", coco3, "--protocol", protocol, "--speed", speed, "-o",
                  reports / f"ir-fp16-{protocol}.json")  # fmt: skip
    return model_dir


# name -> (the edit of ir-fp16-val.json, what the refusal says)
EDITED_AGREEMENTS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "a better agreement": (setting("agreement.ap", 0.9995), "says agreement 0.9995 but its results give"),
    "more reference people": (setting("agreement.people", 34000), "says agreement people 34000 but ir-fp32's"),
    "another agreement interval": (
        both(setting("agreement.interval.low", 0.1), setting("agreement.interval.high", 0.2)),
        "says agreement interval.high 0.2 but its results give",
    ),
}


@pytest.mark.parametrize("case", [None, *EDITED_AGREEMENTS])
def test_bundle_refuses_an_agreement_its_results_do_not_give(
    case: str | None, variant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bundle.json copies a report's agreement with the FP32 IR: scored again against the FP32 IR's report
    beside it. The control (None): the real reports bundle, their agreement carried."""
    model_dir = tmp_path / variant.name
    shutil.copytree(variant, model_dir, symlinks=True)
    args = ["bundle", model_dir / "ir/fp16/model.xml", "--reports", model_dir / "reports", "-o", tmp_path / "b.tar.gz"]
    if case is None:
        outcome = cli(capsys, *args)
        assert outcome.code == 0, outcome.err
        manifest = json.loads(members(tmp_path / "b.tar.gz")["bundle.json"])
        assert manifest["measured"]["val"]["agreement"]["reference"]["artifact"] == "ir-fp32"
        return
    change, message = EDITED_AGREEMENTS[case]
    report = edit_json(model_dir / "reports" / "ir-fp16-val.json", change)
    before = snapshot(tmp_path)
    refused(cli(capsys, *args), report.name, message)
    assert snapshot(tmp_path) == before

"""Class 4, tracebacks become one line: every document kind poseforge reads, hostile, and every
number it takes, out of range. Each is exit 1 (2 for a usage error) with one line naming the file
or option, and nothing written.

The hostile documents are made once per module from real ones (the scored model's reports and
speed file, the made bundle, the session's ONNX and IR, the 3-image COCO set).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from poseforge.text import printable
from tests.bundle.made import Made
from tests.hostile.helpers import Outcome, cli, members, refused, repack, snapshot, within

DEEP = "[" * 100_000 + "]" * 100_000
BIG = "9" * 5000
RAW = "__RAW__"  # replaced by text that is not JSON (NaN, a huge integer, deep nesting) after dumping


def dump(data: Any, raw: str | None = None) -> bytes:
    text = json.dumps(data)
    return (text.replace(json.dumps(RAW), raw) if raw is not None else text).encode()


Variant = tuple[Callable[[dict[str, Any]], Any], str | None]  # (change the parsed document, raw text for RAW)


def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted key (a.b.c) of a document."""

    def change(data: dict[str, Any]) -> None:
        *parents, leaf = key.split(".")
        for parent in parents:
            data = data[parent]
        data[leaf] = value

    return change


def variant_bytes(original: bytes, variant: Variant | bytes) -> bytes:
    if isinstance(variant, bytes):
        return variant
    change, raw = variant
    data = json.loads(original)
    new = change(data)
    return dump(data if new is None else new, raw)


NOT_UTF8 = "not UTF-8"
# Variants every JSON document gets: name -> (variant, what the error says)
COMMON: dict[str, tuple[Variant, str]] = {
    "a 5000-digit integer": ((put("x", RAW), BIG), "5000 digits"),
    "100k-deep nesting": ((put("x", RAW), DEEP), "nested deeper than"),
    "NaN": ((put("x", RAW), "NaN"), "NaN is not a JSON number"),
    "not UTF-8": ((put("x", "\udcff"), None), NOT_UTF8),
    "a key given twice": ((put("x", RAW), '0, "x": 1'), "the key 'x' appears twice"),
}


def latin1(text: bytes) -> bytes:
    return text.replace(b'"\\udcff"', b'"\xe9t\xe9"')


def hostile(original: bytes, variant: Variant) -> bytes:
    out = variant_bytes(original, variant)
    return latin1(out)


# --- reports, read by `report` and `bundle` -----------------------------------------------------------------------
REPORTS: dict[str, tuple[Variant, str]] = {
    **COMMON,
    "a boolean AP": ((put("ap", True), None), "field ap: expected a number, got boolean True"),
    "a string AP": ((put("ap", "0.9"), None), "field ap: expected a number"),
    "a list": ((lambda r: [r], None), "not a JSON object"),
    "no dataset": ((lambda r: r.__delitem__("dataset"), None), "field dataset: missing"),
    "subset given twice, true then false": ((put("subset", RAW), 'true, "subset": false'), "'subset' appears twice"),
    "an interval whose low is above its high": (
        (lambda r: r["interval"].update(low=0.9, high=0.1), None),
        "low 0.9 is above high 0.1",
    ),
    "an input height on a val report": (
        (put("input_height", 320), None),
        "field input_height: given for protocol 'val'",
    ),
    "an input height of 321": ((put("input_height", 321), None), "field input_height: expected a multiple of 8"),
    "an agreement above 1": ((put("agreement", {"ap": 1.5}), None), "field agreement.ap"),
    "an agreement without its reference": (
        (
            put(
                "agreement",
                {
                    "ap": 0.9,
                    "interval": {"low": 0.8, "high": 0.95, "level": 0.95, "resamples": 10},
                    "people": 3,
                    "rule": "r",
                },
            ),
            None,
        ),
        "field agreement.reference: missing",
    ),
}


@pytest.fixture(scope="module")
def bad_reports(scored: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> a model folder (its IR a link to the scored one) whose val report is hostile."""
    root = tmp_path_factory.mktemp("bad-reports")
    original = (scored / "reports" / "ir-fp32-val.json").read_bytes()
    folders = {}
    for i, (name, (variant, _)) in enumerate(REPORTS.items()):
        model_dir = root / f"m{i}"
        shutil.copytree(scored / "reports", model_dir / "reports")
        (model_dir / "ir").mkdir()
        (model_dir / "ir" / "fp32").symlink_to(scored / "ir" / "fp32")
        (model_dir / "reports" / "ir-fp32-val.json").write_bytes(hostile(original, variant))
        folders[name] = model_dir
    return folders


@pytest.mark.parametrize("command", ["report", "bundle", "agreement"])
@pytest.mark.parametrize("case", list(REPORTS))
def test_a_hostile_report(
    case: str, command: str, bad_reports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = bad_reports[case]
    args = {
        "report": ["report", model_dir],
        "bundle": ["bundle", model_dir / "ir/fp32/model.xml", "--reports", model_dir / "reports", "-o",
                   tmp_path / "b.tar.gz"],
        "agreement": ["agreement", model_dir, "-o", tmp_path / "a.json"],
    }[command]  # fmt: skip
    before = snapshot(model_dir, tmp_path)
    refused(cli(capsys, *args), model_dir / "reports" / "ir-fp32-val.json", REPORTS[case][1])
    assert snapshot(model_dir, tmp_path) == before


# --- speed files, read by `validate --speed` ---------------------------------------------------------------------
SPEEDS: dict[str, tuple[Variant, str]] = {
    **COMMON,
    "a string latency": ((put("latency_ms", "fast"), None), "field latency_ms: expected an object"),
    "a negative fps": ((put("e2e_fps", -1), None), "field e2e_fps"),
    "a shape of 3 sides": ((put("shape", [1, 3, 256]), None), "field shape"),
    "an artifact name with a path": ((put("artifact", "../ir-fp32"), None), "field artifact"),
}


@pytest.fixture(scope="module")
def bad_speeds(scored: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-speeds")
    original = (scored / "reports" / "speed" / "ir-fp32.json").read_bytes()
    files = {}
    for i, (name, (variant, _)) in enumerate(SPEEDS.items()):
        files[name] = root / f"speed{i}.json"
        files[name].write_bytes(hostile(original, variant))
    return files


@pytest.mark.parametrize("case", list(SPEEDS))
def test_a_hostile_speed_file(
    case: str,
    bad_speeds: dict[str, Path],
    scored: Path,
    coco3: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    speed = bad_speeds[case]
    before = snapshot(speed, tmp_path)
    refused(cli(capsys, "validate", scored / "ir/fp32/model.xml", "--coco", coco3, "--protocol", "val",
                "--speed", speed, "-o", tmp_path / "r.json"), speed, SPEEDS[case][1])  # fmt: skip
    assert snapshot(speed, tmp_path) == before


# --- bench.json, read by `gate` ------------------------------------------------------------------------------------
def _forged_int8_ratio(bench: dict) -> None:
    """An INT8 run at twice the FP32 IR's throughput in its one round, claimed as 3x."""
    bench["artifacts"]["ir-int8"] = bench["artifacts"]["ir-fp32"]
    fps = 2 * bench["speed"]["ir-fp32"]["throughput_fps"]
    bench["speed"]["ir-int8"] = {**bench["speed"]["ir-fp32"], "throughput_fps": fps, "throughput_fps_by_round": [fps]}
    bench["ratios"]["int8_over_fp32_throughput"] = 3.0


BENCHES: dict[str, tuple[Variant, str]] = {
    **COMMON,
    "ratios as a list": ((put("ratios", [0.05]), None), "field ratios: expected an object"),
    "a zero ratio": ((put("ratios", {"decode_over_latency": 0}), None), "field ratios.decode_over_latency"),
    "an unknown ratio": ((put("ratios", {"free_lunch": 1.0}), None), "free_lunch"),
    # what the file's own rounds give is recomputed, not trusted
    "a throughput not its rounds' median": (
        (put("speed.ir-fp32.throughput_fps", 99.0), None),
        "ir-fp32's throughput 99.00 fps is not the median",
    ),
    "more rounds than measured": ((put("rounds", 3), None), "ir-fp32 has 1 rounds where the file says 3"),
    "a ratio its rounds do not give": ((_forged_int8_ratio, None), "int8_over_fp32_throughput 3.0000 is not what"),
    "a ratio its figures do not give": (
        (put("ratios.decode_over_latency", 0.01), None),
        "decode_over_latency 0.0100 is not what its figures give",
    ),
    "a ratio without its figures": (
        (put("figures", {}), None),
        "it carries decode_over_latency but not the figure 'deploy'",
    ),
    "a figure of zero ms": ((put("figures.network.latency_ms.median", 0), None), "figures.network.latency_ms.median"),
    "a height that is no number": (
        (put("heights", {"frame": [480, 640], "default_height": 256, "runs": {"ir-fp32": {"tall": {}}}}), None),
        "field heights.runs.ir-fp32.tall",
    ),
}


@pytest.mark.parametrize("case", list(BENCHES))
def test_a_hostile_bench_file(case: str, gated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / gated.name
    shutil.copytree(gated, model_dir, symlinks=True)
    bench = model_dir / "bench.json"
    bench.write_bytes(hostile(bench.read_bytes(), BENCHES[case][0]))
    before = snapshot(tmp_path)
    outcome = cli(capsys, "gate", model_dir, "--baseline", gated.parent / "baseline.json")
    refused(outcome, bench, BENCHES[case][1])
    assert "checks hold" not in outcome.out
    assert snapshot(tmp_path) == before


# --- bundle.json inside a bundle, re-packed with the real network and its matching sha256s ----------------------------
BUNDLE_JSON: dict[str, tuple[Variant, str]] = {
    **COMMON,
    "files not a map": ((put("files", "model.xml"), None), "field files: expected an object"),
    "a boolean byte count": ((lambda m: m["files"]["model.bin"].update(bytes=True), None), "files.model.bin.bytes"),
    "20 heatmap channels": ((put("outputs.heatmaps.channels", 20), None), "outputs.heatmaps.channels"),
    "17 keypoint names": ((lambda m: m["keypoints"].update(names=m["keypoints"]["names"][:17]), None), "names"),
    "precision fp64": ((put("precision", "fp64"), None), "field precision"),
    "a deploy side of 255": ((put("input.deploy_shape", [255, 456]), None), "multiple of 8"),
    "a deploy side of 100000": ((put("input.deploy_shape", [100_000, 456]), None), "input.deploy_shape[0]"),
    "an unknown decoder knob": ((put("decoder.evil", 1), None), "unknown decoder parameter"),
    "schema 3": ((put("schema", "poseforge.bundle/3"), None), "poseforge.bundle/3"),
    # measured figures are typed: a string AP used to load, run every frame, then fail formatting it
    "a string AP": ((put("measured.val.ap", "0.99"), None), "field measured.val.ap: expected a number"),
    "an AP above 1": ((put("measured.deploy.ap", 1.5), None), "field measured.deploy.ap: expected a number in"),
    "people as a fraction": ((put("measured.val.people", 68.5), None), "measured.val.people: expected an integer"),
    "a string fps": ((put("measured.speed.e2e_fps", "fast"), None), "field measured.speed.e2e_fps"),
    "no measured speed": ((lambda m: m["measured"].__delitem__("speed"), None), "field measured.speed: missing"),
    "a native height of 0320": (
        (lambda m: m["measured"].update(native_heights={"0320": m["measured"]["native"]}), None),
        "field measured.native_heights.0320",
    ),
}


@pytest.fixture(scope="module")
def bad_bundles(made: Made, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-bundles")
    good = members(made.bundle)
    bundles = {}
    for i, (name, (variant, _)) in enumerate(BUNDLE_JSON.items()):
        bundles[name] = repack(root / f"b{i}.tar.gz", {**good, "bundle.json": hostile(good["bundle.json"], variant)})
    return bundles


@pytest.mark.parametrize("case", list(BUNDLE_JSON))
def test_a_hostile_bundle_json(
    case: str, bad_bundles: dict[str, Path], coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = bad_bundles[case]
    before = snapshot(bundle, tmp_path)
    refused(cli(capsys, "predict", bundle, coco3 / "val2017", "-o", tmp_path / "out"), bundle.name,
            "bundle.json", BUNDLE_JSON[case][1])  # fmt: skip
    assert snapshot(bundle, tmp_path) == before


# --- predict.json in an existing output folder ------------------------------------------------------------------
EARLIER = {"schema": "poseforge.predict/2", "files": ["a.jpg", "poses.json"], "frames": 1, "people": 0}
HUGE = b'{"schema": "poseforge.predict/2", "pad": "'  # then a sparse hole to 300 MB: larger than any summary
PREDICT_JSON: dict[str, tuple[Variant | bytes, str]] = {
    **COMMON,
    "files as a string": ((put("files", "poses.json"), None), "field files: expected a list"),
    "a listed ../ name": ((put("files", ["a.jpg", "poses.json", "../victim"]), None), "../victim"),
    "schema 1": ((put("schema", "poseforge.predict/1"), None), "poseforge.predict/1"),
    "300 MB": (HUGE, "larger than any"),
}


@pytest.mark.parametrize("case", list(PREDICT_JSON))
def test_a_hostile_predict_json(
    case: str, made: Made, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in EARLIER["files"]:
        (out / name).write_text("earlier")
    variant, named = PREDICT_JSON[case]
    (out / "predict.json").write_bytes(latin1(variant_bytes(json.dumps(EARLIER).encode(), variant)))
    if variant is HUGE:
        with open(out / "predict.json", "r+b") as f:
            f.truncate(300 << 20)
    before = snapshot(tmp_path)
    refused(cli(capsys, "predict", made.bundle, coco3 / "val2017", "-o", out), out / "predict.json", named)
    assert snapshot(tmp_path) == before


# --- predict --tracker: values the tracker would misuse ---------------------------------------------------------------
TRACKER_VALUES: dict[str, str] = {
    "nope=1": "unknown tracker parameter(s) nope",
    "min_hits=0": "min_hits must be",
    "max_age=1e400": "max_age must be",
    "high_score=true": "high_score must be",
    "high_score=-1": "high_score must be",
    "cut_threshold=0": "cut_threshold must be",
    "emit_unconfirmed=1": "emit_unconfirmed must be",
    "min_oks": "is not KEY=VALUE",
    "max_age=x": "is not a number or true/false",
}


@pytest.mark.parametrize("value", list(TRACKER_VALUES))
def test_a_bad_tracker_parameter(
    value: str, made: Made, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(tmp_path)
    outcome = cli(capsys, "predict", made.bundle, coco3 / "val2017", "-o", tmp_path / "out", "--tracker", value)
    refused(outcome, "tracker", TRACKER_VALUES[value])
    assert snapshot(tmp_path) == before


# --- ONNX files: poseforge metadata and interface -------------------------------------------------------------------
ONNX_META: dict[str, tuple[str, str]] = {
    "metadata that is not JSON": ("{nope", "is not a valid poseforge metadata"),
    "100k-deep metadata": (DEEP, "nested deeper than"),
    "metadata with a 5000-digit integer": ('{"model": ' + BIG + "}", "5000 digits"),
    "metadata of 20 heatmaps": ("CHANNELS", "outputs.heatmaps.channels"),
    "metadata that is a list": ("[]", "expected an object"),
}


@pytest.fixture(scope="module")
def bad_onnx(omz_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import onnx
    from onnx import TensorProto, helper

    root = tmp_path_factory.mktemp("bad-onnx")
    source = omz_build / "model.sim.onnx"
    meta = json.loads(next(p.value for p in onnx.load(str(source), load_external_data=False).metadata_props
                           if p.key == "poseforge"))  # fmt: skip
    files = {}
    for i, (name, (value, _)) in enumerate(ONNX_META.items()):
        model = onnx.load(str(source))
        for prop in list(model.metadata_props):
            if prop.key == "poseforge":
                model.metadata_props.remove(prop)
        if value == "CHANNELS":
            value = json.dumps(
                {**meta, "outputs": {**meta["outputs"], "heatmaps": {"name": "heatmaps", "channels": 20}}}
            )
        model.metadata_props.add(key="poseforge", value=value)
        files[name] = root / f"meta{i}.onnx"
        onnx.save(model, str(files[name]))

    def tiny(name: str, file: str, rank: int, outputs: tuple[str, str]) -> None:
        shape = [1, 3, "H", "W"][4 - rank :]
        data = helper.make_tensor_value_info("data", TensorProto.FLOAT, shape)
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o in outputs]
        nodes = [helper.make_node("Identity", ["data"], [o]) for o in outputs]
        model = helper.make_model(
            helper.make_graph(nodes, "g", [data], outs), opset_imports=[helper.make_opsetid("", 18)]
        )
        model.metadata_props.add(key="poseforge", value=json.dumps(meta))
        files[name] = root / file
        onnx.save(model, str(files[name]))

    tiny("outputs that are not heatmaps and pafs", "outputs.onnx", 4, ("a", "b"))
    tiny("an input of rank 3", "rank3.onnx", 3, ("heatmaps", "pafs"))
    files["not ONNX at all"] = root / "garbage.onnx"
    files["not ONNX at all"].write_bytes(b"\x08\x07" + b"\xff" * 100)
    return files


ONNX_CASES = {**{k: v[1] for k, v in ONNX_META.items()},
              "outputs that are not heatmaps and pafs": "not a poseforge network (data in; heatmaps, pafs out)",
              "an input of rank 3": "rank 4", "not ONNX at all": "is not a readable ONNX file"}  # fmt: skip


@pytest.mark.parametrize("command", ["convert", "validate"])
@pytest.mark.parametrize("case", list(ONNX_CASES))
def test_a_hostile_onnx_file(
    case: str,
    command: str,
    bad_onnx: dict[str, Path],
    coco3: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = bad_onnx[case]
    args = {
        "convert": ["convert", source, "-o", tmp_path / "ir" / "model.xml"],
        "validate": ["validate", source, "--coco", coco3, "--protocol", "val", "--no-speed", "-o", tmp_path / "r.json"],
    }[command]
    before = snapshot(source, tmp_path)
    refused(cli(capsys, *args), source, ONNX_CASES[case])
    assert snapshot(source, tmp_path) == before


# --- OpenVINO IRs --------------------------------------------------------------------------------------------------
def _meta_edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[str], str]:
    def edit(xml: str) -> str:
        root = ET.fromstring(xml)
        element = root.find("rt_info/poseforge/metadata")
        assert element is not None
        new = change(json.loads(element.get("value", "")))
        element.set("value", new if isinstance(new, str) else json.dumps(new))
        return ET.tostring(root, encoding="unicode")

    return edit


def _rename_heatmaps(meta: dict[str, Any]) -> dict[str, Any]:
    meta["outputs"]["heatmaps"]["name"] = "no_such_output"
    return meta


BOMB = ('<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{f"&{chr(97 + i)};" * 10}">' for i in range(9))
        + ']>\n<net name="x" version="11"><layers>&j;</layers></net>')  # fmt: skip
EXTERNAL = ('<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            '<net name="x" version="11"><layers>&x;</layers></net>')  # fmt: skip
# name -> (change to the .xml text, change to the .bin bytes, what the error says)
IRS: dict[str, tuple[Callable[[str], str], Callable[[bytes], bytes], str]] = {
    'offset="abc"': (lambda x: x.replace('offset="0"', 'offset="abc"', 1), bytes, "a weight offset of 'abc'"),
    'size="-1"': (lambda x: x.replace('size="12"', 'size="-1"', 1), bytes, "a weight size of '-1'"),
    "a truncated .bin": (str, lambda b: b[:-100], "is truncated"),
    "a .bin longer than its .xml says": (str, lambda b: b + bytes(8), "does not match model.xml"),
    "output names that are not the metadata's": (_meta_edit(_rename_heatmaps), bytes, "no_such_output"),
    "100k-deep metadata": (_meta_edit(lambda m: DEEP), bytes, "nested deeper than"),
    "metadata that is not JSON": (_meta_edit(lambda m: "{nope"), bytes, "is not a valid poseforge metadata"),
    "metadata with a million refinement stages": (
        _meta_edit(lambda m: {**m, "config": {"num_refinement_stages": 10**6}}),
        bytes,
        "config.num_refinement_stages",
    ),
    "an entity bomb": (lambda x: BOMB, lambda b: b"", "is not an OpenVINO IR xml"),
    "an external entity": (lambda x: EXTERNAL, lambda b: b"", "is not an OpenVINO IR xml"),
}


@pytest.fixture(scope="module")
def bad_irs(omz_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-irs")
    source = omz_build / "ir" / "fp32" / "model.xml"
    xml, weights = source.read_text(), source.with_suffix(".bin").read_bytes()
    files = {}
    for i, (name, (edit_xml, edit_bin, _)) in enumerate(IRS.items()):
        folder = root / f"ir{i}"
        folder.mkdir()
        (folder / "model.xml").write_text(edit_xml(xml))
        (folder / "model.bin").write_bytes(edit_bin(weights))
        files[name] = folder / "model.xml"
    return files


@pytest.mark.parametrize("command", ["validate", "speed"])
@pytest.mark.parametrize("case", list(IRS))
def test_a_hostile_ir(
    case: str, command: str, bad_irs: dict[str, Path], coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml = bad_irs[case]
    args = {
        "validate": ["validate", xml, "--coco", coco3, "--protocol", "val", "--no-speed", "-o", tmp_path / "r.json"],
        "speed": ["speed", xml, "--coco", coco3, "-o", tmp_path / "s.json", "--iterations", "1", "--seconds", "0.1"],
    }[command]
    before = snapshot(xml.parent, tmp_path)
    refused(cli(capsys, *args), xml.parent, IRS[case][2])
    assert snapshot(xml.parent, tmp_path) == before


# --- COCO annotations --------------------------------------------------------------------------------------------
def first(section: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data[section][0].update(fields)


COCO: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "2 keypoint values": (first("annotations", keypoints=[1, 2]), "annotations[0].keypoints"),
    "a boolean num_keypoints": (first("annotations", num_keypoints=True), "expected an integer, got boolean"),
    "a file_name with ../": (first("images", file_name="../secret.jpg"), "images[0].file_name"),
    "a file_name of ..": (first("images", file_name=".."), "not distinct plain names"),
    "an absolute file_name": (first("images", file_name="/etc/passwd"), "images[0].file_name"),
    "a string image id": (first("images", id="139"), "images[0].id"),
    "a string annotation image_id": (first("annotations", image_id="139"), "annotations[0].image_id"),
    "duplicate image ids": (lambda d: d["images"][1].update(id=d["images"][0]["id"]), "not unique"),
    "a visibility of 7": (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 7), "visibilities"),
    "a width of a million": (first("images", width=10**6), "images[0].width"),
    "no person category": (lambda d: d.update(categories=[{"id": 1, "name": "cat"}]), "no 'person' category"),
    "a 5000-digit area": (first("annotations", area=RAW), "5000 digits"),
}


@pytest.fixture(scope="module")
def bad_cocos(coco3: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-coco")
    original = (coco3 / "annotations" / "person_keypoints_val2017.json").read_bytes()
    folders = {}
    for i, (name, (change, _)) in enumerate(COCO.items()):
        folder = root / f"coco{i}"
        (folder / "annotations").mkdir(parents=True)
        (folder / "val2017").symlink_to(coco3 / "val2017")
        text = variant_bytes(original, (change, BIG))
        (folder / "annotations" / "person_keypoints_val2017.json").write_bytes(text)
        folders[name] = folder
    return folders


@pytest.mark.parametrize("case", list(COCO))
def test_hostile_coco_annotations(
    case: str, bad_cocos: dict[str, Path], scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco = bad_cocos[case]
    before = snapshot(coco, tmp_path)
    args = ["validate", scored / "ir/fp32/model.xml", "--coco", coco, "--protocol", "val", "--no-speed", "-o"]
    refused(cli(capsys, *args, tmp_path / "r.json"), coco / "annotations/person_keypoints_val2017.json", COCO[case][1])
    assert snapshot(coco, tmp_path) == before


# --- numbers: usage errors (exit 2) naming the option -----------------------------------------------------------------
SPEED = ["speed", "IR", "--coco", "COCO", "-o", "OUT"]
NUMBERS: dict[str, tuple[list[str], str]] = {
    "--threads -1": ([*SPEED, "--threads", "-1"], "--threads"),
    "--threads 0": ([*SPEED, "--threads", "0"], "--threads"),
    "--threads abc": ([*SPEED, "--threads", "abc"], "--threads"),
    "--threads 1e9": ([*SPEED, "--threads", "1000000000"], "--threads"),
    "--iterations 0": ([*SPEED, "--iterations", "0"], "--iterations"),
    "--limit -2": ([*SPEED, "--limit", "-2"], "--limit"),
    "--seconds nan": ([*SPEED, "--seconds", "nan"], "--seconds"),
    "--seconds inf": ([*SPEED, "--seconds", "inf"], "--seconds"),
    "--seconds 0": ([*SPEED, "--seconds", "0"], "--seconds"),
    "--seconds -1": ([*SPEED, "--seconds", "-1"], "--seconds"),
    "--stages 0": (["init", "--model", "lightweight-openpose", "--stages", "0", "-o", "OUT"], "--stages"),
    "--stages 100": (["init", "--model", "lightweight-openpose", "--stages", "100", "-o", "OUT"], "--stages"),
    "--rounds 0": (["bench", "MODEL", "--coco", "COCO", "--rounds", "0"], "--rounds"),
    "validate --limit 0": (["validate", "IR", "--coco", "COCO", "--protocol", "val", "--limit", "0"], "--limit"),
    "predict --threads -4": (["predict", "B.tar.gz", "IN", "-o", "OUT", "--threads", "-4"], "--threads"),
    "--seed -1": (["init", "--model", "lightweight-openpose", "--seed", "-1", "-o", "OUT"], "--seed"),
    "validate --height 300": (
        ["validate", "IR", "--coco", "COCO", "--protocol", "native", "--height", "300"],
        "--height",
    ),
    "validate --height 2048": (
        ["validate", "IR", "--coco", "COCO", "--protocol", "native", "--height", "2048"],
        "--height",
    ),
    "predict --height 0": (["predict", "B.tar.gz", "IN", "-o", "OUT", "--height", "0"], "--height"),
    "predict --height tall": (["predict", "B.tar.gz", "IN", "-o", "OUT", "--height", "tall"], "--height"),
    "agreement --resamples 5": (["agreement", "MODEL", "--resamples", "5"], "--resamples"),
    # a report's interval: every reader of the report draws it again
    "validate --resamples 20000": (
        ["validate", "IR", "--coco", "COCO", "--protocol", "val", "--resamples", "20000"],
        "--resamples",
    ),
    "agreement --limit 0": (["agreement", "MODEL", "--images", "COCO", "--limit", "0"], "--limit"),
}


@pytest.mark.parametrize("case", list(NUMBERS))
def test_an_out_of_range_number_is_a_usage_error(
    case: str, scored: Path, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, option = NUMBERS[case]
    names = {"IR": scored / "ir/fp32/model.xml", "COCO": coco3, "OUT": tmp_path / "out", "MODEL": scored}
    before = snapshot(tmp_path)
    refused(cli(capsys, *(names.get(a, a) for a in args)), option, code=2)
    assert snapshot(tmp_path) == before


# --- checkpoints that torch.load would take apart --------------------------------------------------------------------
def test_a_pickle_with_code_is_refused_in_one_clean_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """weights_only refuses it; the line says what, without torch's terminal escapes or page of advice."""
    import torch

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (print, ("EXECUTED",))

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": Payload()}, evil)
    before = snapshot(tmp_path)
    outcome = cli(capsys, "checkpoint", evil, "-o", tmp_path / "model.pth")
    line = refused(outcome, evil, "Unsupported global")
    assert "\x1b" not in outcome.err and "EXECUTED" not in outcome.out and len(line) < 600
    assert snapshot(tmp_path) == before


def test_a_truncated_checkpoint(omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.pth"
    cut.write_bytes((omz_build / "model.pth").read_bytes()[:5000])
    before = snapshot(tmp_path)
    refused(cli(capsys, "export", cut, "-o", tmp_path / "m.onnx"), cut, "truncated or corrupt")
    assert snapshot(tmp_path) == before


# --- runtime: a network whose outputs are not finite ------------------------------------------------------------
@pytest.fixture(scope="module")
def nan_networks(omz_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An ONNX file with poseforge's interface and metadata whose heatmaps hold a NaN (a 1x1 convolution with a NaN
    weight, stride 8), and its IR (convert takes it: it does not look at weights)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from tests.hostile.conftest import poseforge

    root = tmp_path_factory.mktemp("nan-networks")
    meta = next(p.value for p in onnx.load(str(omz_build / "model.sim.onnx"), load_external_data=False).metadata_props
                if p.key == "poseforge")  # fmt: skip
    heat, pafs = np.zeros((19, 3, 1, 1), np.float32), np.zeros((38, 3, 1, 1), np.float32)
    heat[0, 0, 0, 0] = np.nan
    nodes = [
        helper.make_node("Conv", ["data", w], [out], strides=[8, 8]) for w, out in (("h", "heatmaps"), ("p", "pafs"))
    ]
    graph = helper.make_graph(
        nodes, "nan", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("heatmaps", "pafs")],
        [numpy_helper.from_array(heat, "h"), numpy_helper.from_array(pafs, "p")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.metadata_props.add(key="poseforge", value=meta)
    onnx.save(model, str(root / "nan.onnx"))
    poseforge("convert", root / "nan.onnx", "-o", root / "ir" / "model.xml")
    return {"onnx": root / "nan.onnx", "ir": root / "ir" / "model.xml"}


@pytest.mark.parametrize("kind", ["onnx", "ir"])
def test_non_finite_outputs_are_refused(kind: str, nan_networks: dict[str, Path], coco3: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    before = snapshot(tmp_path)
    refused(cli(capsys, "validate", nan_networks[kind], "--coco", coco3, "--protocol", "val", "--no-speed", "-o",
                tmp_path / "r.json"), "returned non-finite maps")  # fmt: skip
    assert snapshot(tmp_path) == before


def test_non_finite_outputs_name_the_file(
    nan_networks: dict[str, Path], coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line says "onnx-sim returned non-finite maps": the artifact name recorded in the metadata, which
    here is not even what the file is; the file (nan.onnx) is not named."""
    refused(cli(capsys, "validate", nan_networks["onnx"], "--coco", coco3, "--protocol", "val", "--no-speed", "-o",
                tmp_path / "r.json"), "nan.onnx")  # fmt: skip


# --- inputs beyond what a library takes, names holding control characters ---------------------------------------------
def test_a_number_beyond_any_camera_index(made: Made, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OpenCV's binding refused 2147483648 with its own message ("missing required argument 'apiPreference'")."""
    before = snapshot(tmp_path)
    refused(cli(capsys, "predict", made.bundle, "2147483648", "-o", tmp_path / "out"), "2147483648", "camera index")
    assert snapshot(tmp_path) == before


# -o -> (what the line says, the exit code: '' is a usage error for every command)
NAMELESS = {"": ("-o/--output: '' names no file or folder to write", 2), ".": (". is a folder", 1),
            "/": ("/ is a folder", 1)}  # fmt: skip


@pytest.mark.parametrize("output", list(NAMELESS))
def test_keygen_to_an_output_that_names_no_file(
    output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keygen -o ''` (or '.', '/') reached the last resort (ValueError: PosixPath('.') has an empty name)."""
    monkeypatch.chdir(tmp_path)
    says, code = NAMELESS[output]
    refused(cli(capsys, "keygen", "-o", output), says, code=code)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("option", ["--decoder", "--tracker"])
def test_a_parameter_nested_thousands_deep(option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """json.loads raised RecursionError, which only the last resort caught; the line shows the start of the value."""
    outcome = cli(capsys, "predict", tmp_path / "b.tar.gz", tmp_path, "-o", tmp_path / "out", option,
                  "min_hits=" + DEEP)  # fmt: skip
    line = refused(outcome, option, "'min_hits=[[[", "is not a number or true/false")
    assert len(line) < 200 and not list(tmp_path.iterdir())


# name -> (arguments, given a scratch folder, and what the line says the file is instead)
NOT_A_FILE: dict[str, tuple[Callable[[Path], list[str | Path]], str]] = {
    "a folder as the bundle": (lambda root: ["verify", _folder(root / "b.tar.gz")], "is a directory, not a bundle"),
    "/dev/null as the bundle": (lambda root: ["verify", "/dev/null"], "not a regular file (a pipe or a device), "
                                "not a bundle"),
    "a FIFO as the bundle": (lambda root: ["verify", _fifo(root / "b.tar.gz")],
                             "not a regular file (a pipe or a device), not a bundle"),
    "a folder as the checkpoint": (lambda root: ["export", _folder(root / "m.pth"), "-o", root / "m.onnx"],
                                   "is a directory, not a checkpoint"),
    "a folder as the ONNX file": (lambda root: ["convert", _folder(root / "m.onnx"), "-o", root / "m.xml"],
                                  "is a directory, not an ONNX file"),
    "a FIFO as the IR": (lambda root: ["import-ir", _fifo(root / "m.xml"), "-o", root / "m.pth"],
                         "not a regular file (a pipe or a device), not an OpenVINO IR"),
}  # fmt: skip


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", list(NOT_A_FILE))
def test_a_folder_pipe_or_device_named_as_a_file_says_what_it_is(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were all "bundle not found" (or checkpoint, IR): the file is there, it is just not one."""
    make, says = NOT_A_FILE[case]
    args = make(tmp_path)
    before = snapshot(tmp_path)
    with within(30):
        refused(cli(capsys, *args), args[1], says)
    assert snapshot(tmp_path) == before


def test_a_folder_this_user_may_not_list(made: Made, coco3: Path, tmp_path: Path) -> None:
    """predict's folder of images, unreadable (mode 000; root is run without its licence to ignore that)
    reached the last resort: "predict: Permission denied (...)"."""
    folder = tmp_path / "photos"
    shutil.copytree(coco3 / "val2017", folder)
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to run as root without overriding file permissions")
    args = ["predict", made.bundle, folder, "-o", tmp_path / "out", "--save", "poses"]
    folder.chmod(0)
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "poseforge.cli", *map(str, args)], capture_output=True,
                                text=True, timeout=300)  # fmt: skip
    finally:
        folder.chmod(0o755)
    err = "\n".join(ln for ln in result.stderr.splitlines() if not ln.startswith("WARNING:"))  # OpenVINO's own
    refused(Outcome(result.returncode, result.stdout, err), f"cannot list the images of {folder}: Permission denied")
    assert not (tmp_path / "out").exists()


def test_convert_refuses_an_output_that_is_not_xml_before_converting(
    omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`convert -o m.txt` converted, then failed naming its temporary file (.m.XXXX.tmp.txt)."""
    outcome = cli(capsys, "convert", omz_build / "model.sim.onnx", "-o", tmp_path / "cvt" / "m.txt")
    line = refused(outcome, tmp_path / "cvt" / "m.txt", "NAME.xml")
    assert ".tmp" not in line and not list(tmp_path.iterdir())


CONTROL = {"a newline": "co\nco", "a carriage return": "co\rco", "a terminal escape": "co\x1b[2Jco",
           "a bidirectional override": "co\u202eoc"}  # fmt: skip


@pytest.mark.parametrize("case", list(CONTROL))
def test_a_name_holding_control_characters_stays_one_line(
    case: str, scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error names the COCO folder, escaped: one line, nothing a terminal would act on."""
    coco = tmp_path / CONTROL[case]
    coco.mkdir()  # no annotations in it
    before = snapshot(tmp_path)
    outcome = cli(capsys, "validate", scored / "ir/fp32/model.xml", "--coco", coco, "--protocol", "val", "--no-speed",
                  "-o", tmp_path / "r.json")  # fmt: skip
    refused(outcome, printable(coco))
    assert not {"\x1b", "\r", "\u202e"} & set(outcome.err)
    assert snapshot(tmp_path) == before


def test_a_written_name_holding_a_newline_stays_one_line(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "my\ncomparison.json"
    outcome = cli(capsys, "compare", scored / "reports/ir-fp32-val.json", scored / "reports/ir-fp32-deploy.json",
                  "--cross-protocol", "--resamples", "10", "-o", out)  # fmt: skip
    assert outcome.code == 0 and f"wrote {printable(out)}" in outcome.out.splitlines(), outcome.out
    assert json.loads(out.read_text())["schema"] == "poseforge.comparison/1"


# --- signals and pipes: the end of a run is one line or none ----------------------------------------------------------
AT_SHUTDOWN = """
import os, signal, sys, threading, time
from poseforge.cli import main
done = threading.Event()
def later():  # a thread the interpreter joins at exit: SIGTERM arrives while it does
    done.wait()
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
threading.Thread(target=later).start()
code = main(sys.argv[1:])
done.set()
sys.exit(code)
"""


def test_sigterm_after_the_output_is_written_exits_143(scored: Path, tmp_path: Path) -> None:
    """It printed "Exception ignored in: <module 'threading'> ... SystemExit: 143" and exited 0."""
    out = tmp_path / "comparison.json"
    args = ["compare", scored / "reports/ir-fp32-val.json", scored / "reports/ir-fp32-deploy.json",
            "--cross-protocol", "--resamples", "10", "-o", out]  # fmt: skip
    result = subprocess.run([sys.executable, "-c", AT_SHUTDOWN, *map(str, args)], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 143 and result.stderr == "", (result.returncode, result.stderr)
    assert f"wrote {out}" in result.stdout and json.loads(out.read_text())["schema"] == "poseforge.comparison/1"


def _piped() -> list[list[str]]:
    from poseforge.cli import COMMANDS

    return [["--help"], ["--version"], ["info", "lightweight-openpose"], ["machine"],
            *([command.name, "--help"] for command in COMMANDS)]  # fmt: skip


@pytest.mark.parametrize("args", _piped(), ids=" ".join)
def test_a_closed_stdout_ends_quietly(args: list[str]) -> None:
    """`poseforge info ... | head`: the reader has gone. Exit 141 (as a Unix tool killed by SIGPIPE), nothing on
    stderr: no BrokenPipeError, no "Exception ignored"."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, "-m", "poseforge.cli", *args], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=120)  # fmt: skip
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == "", (result.returncode, result.stderr)


# --- sweep settings files, and clusters ------------------------------------------------------------------------------
SWEEP_OK = '[inputs]\nfp32 = "model.xml"\n\n[[rows]]\nname = "a"\n'
SWEEPS: dict[str, tuple[str, str]] = {  # settings text -> what the line says
    "not TOML": ("[inputs\nfp32 = ", "not a TOML settings file"),
    "not UTF-8": ("\udcff", "not a TOML settings file"),
    "an unknown table": (SWEEP_OK + "[extra]\n", "unknown key extra"),
    "an unknown setting": (SWEEP_OK + "presett = 'mixed'\n", "unknown key rows[0].presett"),
    "a setting of the wrong type": (SWEEP_OK + "subset_size = '300'\n", "rows[0].subset_size is int"),
    "a boolean for a number": (SWEEP_OK + "subset_size = true\n", "rows[0].subset_size is int"),
    "an unknown preset": (SWEEP_OK + "preset = 'fastest'\n", "unknown preset 'fastest'"),
    "no FP32 IR": ("[[rows]]\nname = 'a'\n", "no FP32 IR"),
    "no row": ('[inputs]\nfp32 = "model.xml"\n', "holds no row"),
    "an empty grid axis": ('[inputs]\nfp32 = "m.xml"\n[grid]\npreset = []\n', "grid.preset is a non-empty list"),
    "a grid of 20,000 rows": (
        '[inputs]\nfp32 = "m.xml"\n[grid]\n' + f"subset_size = {list(range(1, 101))}\n"
        f"candidates = {list(range(1, 101))}\nignore_heads = [true, false]\n",
        "the grid makes 20000 rows",
    ),
    "two rows of one name": (SWEEP_OK + "[[rows]]\nname = 'a'\n", "two rows are named 'a'"),
    "seconds out of range": ('[inputs]\nfp32 = "m.xml"\nseconds = -1\n[[rows]]\n', "inputs.seconds"),
    "a name across lines": (SWEEP_OK.replace('"a"', '"a\\nb"'), "rows[0].name is 1 to 200 printable characters"),
    "a name that splits a table cell": (SWEEP_OK.replace('"a"', '"a | b"'), "without '|', got 'a | b'"),
}


@pytest.mark.parametrize("case", list(SWEEPS))
def test_a_hostile_sweep_settings_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, says = SWEEPS[case]
    path = tmp_path / "sweep.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    before = snapshot(tmp_path)
    line = refused(cli(capsys, "sweep", path, "-o", tmp_path / "out"), path)
    assert says in line, line
    assert snapshot(tmp_path) == before


def test_two_rows_of_one_setting_are_refused_before_any_work(
    omz_build: Path, assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows that differ only by name would share a row folder: both quantized into it (at once, on Ray), and
    a sweep run again showed the last one's name twice."""
    from tests.validate.conftest import SMALL_SWEEP, make_coco

    coco = make_coco(tmp_path / "coco", assets, 2)
    path = tmp_path / "sweep.toml"
    rows = "".join(f'\n[[rows]]\nname = "{name}"\npreset = "mixed"\n' for name in ("first", "second"))
    path.write_text(SMALL_SWEEP.format(fp32=omz_build / "ir" / "fp32" / "model.xml", coco=coco) + rows)
    refused(cli(capsys, "sweep", path, "-o", tmp_path / "out"), path, "rows 'first' and 'second' are the same")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["validate", "bench", "sweep"])
def test_without_ray_the_ray_option_names_the_extra(command: str, tmp_path: Path) -> None:
    from tests.conftest import run_blocked

    settings = tmp_path / "sweep.toml"
    settings.write_text(SWEEP_OK)
    args = {"validate": ["validate", "model.xml", "--protocol", "val", "--no-speed", "-o", "r.json", "--ray"],
            "bench": ["bench", "build/m", "--ray", "auto"],
            "sweep": ["sweep", str(settings), "-o", str(tmp_path / "out"), "--ray"]}[command]  # fmt: skip
    body = f"from poseforge.cli import main\nimport sys\nsys.exit(main({args!r}))\n"
    result = run_blocked(("ray",), body, timeout=120)
    outcome = Outcome(result.returncode, result.stdout, result.stderr)
    refused(outcome, f"{command} --ray needs Ray, part of the cluster extra", "pip install 'poseforge[cluster]'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "address", ["localhost:\u00b2", "h:\u0661\u0662", "a..b:6379", "a" * 70 + ":6379", "::1", "::1:6379"]
)
def test_a_malformed_ray_address_is_one_line(address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A port of digits Python's int() may not read (or reads as another port), a host name no resolver
    takes (an empty or over-long label), an IPv6 host out of brackets (::1 was "cannot be reached"): the
    address, refused as one, not an exception's name."""
    pytest.importorskip("ray", reason="Ray is the cluster extra: `make setup-cluster` installs it")
    refused(cli(capsys, "bench", tmp_path, "--ray", address), f"--ray {address}: expected local, auto")


def test_a_cluster_that_cannot_be_reached_is_one_line(
    omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The inputs are read first (a missing model is named before any cluster is asked), then the cluster."""
    pytest.importorskip("ray", reason="Ray is the cluster extra: `make setup-cluster` installs it")
    before = snapshot(tmp_path)
    with within(30):
        outcome = cli(capsys, "validate", omz_build / "ir" / "fp32" / "model.xml", "--protocol", "val", "--no-speed",
                      "-o", tmp_path / "r.json", "--ray", "127.0.0.1:9")  # fmt: skip
    refused(outcome, "the Ray cluster at 127.0.0.1:9 cannot be reached")
    assert refused(cli(capsys, "bench", tmp_path, "--ray", "nowhere"), "--ray nowhere: expected local, auto")
    assert snapshot(tmp_path) == before

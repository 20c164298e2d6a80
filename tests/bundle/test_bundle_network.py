"""What is inside a bundle, and that it computes (and scores) what the IR it was made from does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from poseforge.bundle import SCHEMA, open_bundle
from poseforge.bundle.manifest import validated
from poseforge.decode import DecoderParams
from poseforge.images import read_image
from poseforge.ir_files import read_ir
from poseforge.keypoints import KEYPOINT_NAMES, LIMB_PAF_CHANNELS, LIMBS, SKELETON
from poseforge.machine import machine_info, runs_bf16_natively
from poseforge.metadata import get_ir_metadata
from poseforge.preprocess import prepare, to_nchw
from poseforge.runtime import artifact_kind, artifact_metadata, open_runner
from poseforge.runtime.bundle_runner import camera_batch
from poseforge.validate.accuracy.validate import read_report
from tests.bundle.made import HEIGHT, Made
from tests.conftest import run_cli


def test_the_bundle_ir_takes_u8_bgr_nhwc_frames(made: Made) -> None:
    with open_bundle(made.bundle) as bundle:
        model = read_ir(bundle.xml)
        meta = get_ir_metadata(model)
    assert model.input(0).get_element_type().get_type_name() == "u8"
    assert str(model.input(0).get_partial_shape()) == "[1,?,?,3]"
    assert meta["artifact"] == "bundle-fp32" and meta["input"]["dtype"] == "uint8"
    assert meta["input"]["layout"] == "NHWC" and meta["input"]["deploy_shape"] == [256, 456]
    assert artifact_kind(made.bundle) == "bundle" and artifact_metadata(made.bundle) == meta


def test_bundle_json_documents_the_network(made: Made) -> None:
    with open_bundle(made.bundle) as bundle:
        manifest = bundle.manifest
        bundle_meta = get_ir_metadata(read_ir(bundle.xml))
        ir_meta = get_ir_metadata(read_ir(made.model_dir / "ir" / "fp32" / "model.xml"))
    assert manifest["schema"] == SCHEMA and manifest["model"] == "human-pose-estimation-0001"
    assert manifest["precision"] == "fp32"
    assert manifest["input"]["shape"] == [1, "H", "W", 3] and manifest["input"]["size_multiple"] == 8
    assert manifest["input"]["normalization_inside_graph"] is True
    assert manifest["normalization"]["scale"] == ir_meta["normalization"]["scale"]
    assert manifest["outputs"]["pafs"]["shape"] == [1, 38, "H/8", "W/8"]
    assert manifest["keypoints"]["names"] == list(KEYPOINT_NAMES)
    assert manifest["keypoints"]["skeleton"] == [list(limb) for limb in SKELETON]
    table = [(tuple(limb["keypoints"]), tuple(limb["paf_channels"])) for limb in manifest["keypoints"]["limbs"]]
    assert table == list(zip(LIMBS, LIMB_PAF_CHANNELS, strict=True))
    assert manifest["keypoints"]["limbs"][0]["name"] == "neck-r_sho"
    assert manifest["decoder"] == dataclasses.asdict(DecoderParams())
    assert manifest["source"]["checkpoint_sha256"] == ir_meta["source"]["sha256"]
    assert "Apache-2.0" in manifest["source"]["notice"]
    assert manifest["versions"]["openvino"] and manifest["versions"] == bundle_meta["versions"]
    # What bundle.json says about the network, the network's own metadata says too (the loader checks it).
    for key in ("model", "precision", "artifact", "source_ir", "input", "normalization", "outputs", "decoder"):
        assert manifest[key] == bundle_meta[key], key
    assert manifest["source"]["notice"] == bundle_meta["source"]["notice"]
    # Where bf16 is native, make validated the FP32 IR under bf16 too: the bundle carries those reports.
    bf16 = {"report-val.bf16.json", "report-deploy.bf16.json"} if runs_bf16_natively() else set()
    assert set(manifest["files"]) == {"model.xml", "model.bin", "report-val.json", "report-deploy.json",
                                      "report-native.json", f"report-native@{HEIGHT}.json", *bf16}  # fmt: skip
    assert set(manifest["measured"].get("hints", {})) == ({"bf16"} if bf16 else set())
    if bf16:
        assert manifest["measured"]["hints"]["bf16"]["val"]["precision_hint"] == "bf16"
        classes = validated(manifest)
        assert set(classes[machine_info()["class"]]) == {"f32", "bf16"}
    assert all(len(entry["sha256"]) == 64 and entry["bytes"] > 0 for entry in manifest["files"].values())


def test_the_bundle_computes_what_its_ir_computes(made: Made, coco_images: list[Path]) -> None:
    """Raw pixels in, same maps out: the conversion is embedded, the normalisation not applied twice."""
    ir = open_runner(made.model_dir / "ir" / "fp32" / "model.xml")
    bundle = open_runner(made.bundle)
    for path in coco_images[:3]:
        frame = prepare(read_image(path), "deploy").image  # u8, as a camera pipeline has it
        expected = ir.run(to_nchw(frame))
        for got in (bundle.run(frame[None]), bundle.run(to_nchw(frame))):  # u8 NHWC, or float NCHW
            for a, b in zip(expected, got, strict=True):
                assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4


def test_float_input_is_rounded_and_clipped_into_a_camera_frame() -> None:
    batch = np.full((1, 3, 8, 8), 10.0, dtype=np.float32)
    batch[0, :, 0, :6] = [-3.2, 0.4, 0.6, 127.5, 254.6, 300.0]  # bicubic overshoot and fractions
    frame = camera_batch(batch)
    assert frame.dtype == np.uint8 and frame.shape == (1, 8, 8, 3)
    assert frame[0, 0, :6, 0].tolist() == [0, 0, 1, 128, 255, 255]


@pytest.mark.slow
def test_validate_gives_the_bundle_the_ap_of_its_ir(made: Made, assets: Path, tmp_path: Path) -> None:
    coco = assets / "coco-mini"
    ir_reports = made.model_dir / "reports"
    ap = {}
    for protocol in ("val", "deploy"):
        out = tmp_path / f"bundle-fp32-{protocol}.json"
        result = run_cli("validate", str(made.bundle), "--coco", str(coco), "--protocol", protocol, "--no-speed",
                         "-o", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
        report = json.loads(out.read_text())
        assert report["artifact"] == "bundle-fp32" and report["images"] == 79
        assert report["runtime"]["input"] == "uint8 NHWC"
        ap[protocol] = report["ap"]
    # Both protocols hand every runner u8-valued frames: the bundle sees exactly what its IR saw.
    for protocol in ("val", "deploy"):
        assert abs(ap[protocol] - read_report(ir_reports / f"ir-fp32-{protocol}.json")["ap"]) <= 0.002

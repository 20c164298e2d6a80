"""The artifact registry is the one list: the Makefile's artifacts, files and bundle precisions agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poseforge.artifacts import (
    ARTIFACTS,
    BUNDLE_PRECISIONS,
    DEFAULT_HEIGHT,
    artifact_digest,
    artifact_files,
    base_name,
    check_height,
    protocol_key,
    protocol_label,
    run_name,
    split_protocol_key,
)
from poseforge.errors import PoseforgeError

MAKEFILE = (Path(__file__).resolve().parents[1] / "Makefile").read_text()


def test_the_makefile_builds_exactly_the_registry() -> None:
    files = dict(re.findall(r"^ART_([\w-]+) := \$\(OUT\)/(\S+)$", MAKEFILE, re.MULTILINE))
    assert files == {a.name: a.file for a in ARTIFACTS}
    listed = re.findall(r"^ARTIFACTS (?::=|\+=) ([\w -]+)$", MAKEFILE, re.MULTILINE)
    assert [name for line in listed for name in line.split()] == [
        "torch", "onnx", "onnx-sim", "ir-fp32", "ir-fp16", "omz-int8", "ir-int8"
    ]  # fmt: skip
    assert set(" ".join(listed).split()) == {a.name for a in ARTIFACTS}
    precisions = re.search(r"^BUNDLE_PRECISIONS := (.+)$", MAKEFILE, re.MULTILINE)
    assert precisions and tuple(precisions.group(1).split()) == BUNDLE_PRECISIONS


def test_variant_rows_are_named_after_their_hint() -> None:
    assert run_name("ir-fp32", "f32") == "ir-fp32" and run_name("ir-fp32", "bf16") == "ir-fp32.bf16"
    assert base_name("ir-fp32.bf16") == "ir-fp32"
    assert re.search(r"^ART_ir-fp32\.bf16 := \$\(ART_ir-fp32\)$", MAKEFILE, re.MULTILINE)


def test_the_digest_covers_every_file_of_an_ir(tmp_path: Path) -> None:
    xml, weights = tmp_path / "model.xml", tmp_path / "model.bin"
    xml.write_text("<net/>")
    weights.write_bytes(b"\x00" * 16)
    assert artifact_files(xml) == [xml, weights]
    before = artifact_digest(xml)
    weights.write_bytes(b"\x01" + b"\x00" * 15)  # same size, other bytes
    assert artifact_digest(xml) != before
    weights.unlink()
    with pytest.raises(PoseforgeError, match="incomplete"):
        artifact_digest(xml)


@pytest.mark.parametrize("height", [64, 256, 320, 368, 1024])
def test_a_native_height_is_a_bounded_multiple_of_8(height: int) -> None:
    assert check_height(height) == height


@pytest.mark.parametrize("height", [0, 56, 300, 321, 1032, -256, True, 320.0, "320", None])
def test_anything_else_is_refused_in_one_line(height: object) -> None:
    with pytest.raises(PoseforgeError, match=r"expected a multiple of 8 from 64 to 1024 \(default 256\)") as caught:
        check_height(height)
    assert "\n" not in str(caught.value)


def test_a_native_run_at_another_height_is_named_by_it() -> None:
    assert protocol_key("native", 320) == "native@320" and split_protocol_key("native@320") == ("native", 320)
    assert protocol_key("native", DEFAULT_HEIGHT) == protocol_key("native") == "native"  # the deploy height
    assert split_protocol_key("native") == ("native", DEFAULT_HEIGHT) and split_protocol_key("val") == ("val", None)
    assert protocol_key("val", None) == "val" and protocol_label("native@368") == "native protocol at height 368"
    for key in ("native@256", "val@320", "native@0320", "native@321", "native@abc", "native@", "native@99999",
                "native@\u0663\u0662\u0660", "nat"):  # fmt: skip
        with pytest.raises(PoseforgeError):
            split_protocol_key(key)


def test_the_makefile_validates_heights_the_code_accepts() -> None:
    default = re.search(r"^DEFAULT_HEIGHT := (\d+)$", MAKEFILE, re.MULTILINE)
    assert default and int(default.group(1)) == DEFAULT_HEIGHT
    heights = re.search(r"^HEIGHTS \?= ([\d ]+)$", MAKEFILE, re.MULTILINE)
    assert heights and [check_height(int(h)) for h in heights.group(1).split()] == [320, 368]


def test_int8_parity_is_judged_by_a_stated_cosine() -> None:
    int8 = [a for a in ARTIFACTS if a.precision == "int8" and a.ours]
    assert [a.name for a in int8] == ["ir-int8"] and int8[0].parity_tolerance is None
    assert 0.9 < int8[0].parity_min_cosine < 1.0

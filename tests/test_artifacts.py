"""The artifact registry is the one list: the Makefile's artifacts, files and bundle precisions agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poseforge.artifacts import ARTIFACTS, BUNDLE_PRECISIONS, artifact_digest, artifact_files, base_name, run_name
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

"""Counting parameters and MACs per part from the modules: pinned at 368x368, checked by hand."""

from __future__ import annotations

import json

import pytest

from poseforge.analysis.complexity import count, parse_input, part_of, stages_config
from poseforge.errors import PoseforgeError
from tests.conftest import run_cli

# (params, MACs, element-wise ops) per part at 368x368: a change to an architecture shows up here.
PINNED = {
    "lightweight-openpose": {
        "backbone": (1_613_120, 3_650_760_192, 44_960_768),
        "conv4_3": (118_272, 249_992_704, 2_166_784),
        "conv4_4": (147_584, 312_016_896, 541_696),
        "initial": (604_089, 1_275_152_384, 6_079_268),
        "refinement 1": (1_608_633, 3_393_725_440, 12_037_924),
    },
    "human-pose-estimation-0001": {
        "backbone": (1_605_760, 3_650_760_192, 44_960_768),
        "conv4_3": (135_552, 284_661_248, 4_333_568),
        "conv4_4": (147_584, 312_016_896, 541_696),
        "initial": (604_089, 1_275_152_384, 6_079_268),
        "refinement 1": (1_606_073, 3_393_725_440, 9_329_444),
    },
    "openpose-vgg19": {
        "backbone": (5_865_536, 37_676_040_192, 88_838_144),
        "conv4_3": (1_179_904, 2_496_135_168, 1_083_392),
        "conv4_4": (295_040, 624_033_792, 541_696),
        "initial": (1_046_841, 2_211_203_072, 7_704_356),
        "refinement 1": (8_784_825, 18_585_318_912, 6_620_964),
    },
}
TOTAL_PARAMS = {"lightweight-openpose": 4_091_698, "human-pose-estimation-0001": 4_099_058}
MAPS = 46 * 46  # 368 / 8


@pytest.mark.parametrize("model", PINNED)
def test_counts_per_part_are_pinned(model: str) -> None:
    c = count(model, (368, 368), {"num_refinement_stages": 1})
    assert {p.name: (p.params, p.macs, p.other_ops) for p in c.parts} == PINNED[model]
    assert c.params == sum(p.params for p in c.parts)


@pytest.mark.parametrize("model", TOTAL_PARAMS)
def test_total_parameters(model: str) -> None:
    assert count(model).params == TOTAL_PARAMS[model]


def test_vgg_parts_by_hand() -> None:
    """Independent arithmetic: 3x3 convolutions of VGG-19 at 368, 184, 92 and 46 pixels."""
    sizes = {368: [(3, 64), (64, 64)], 184: [(64, 128), (128, 128)], 92: [(128, 256)] + [(256, 256)] * 3,
             46: [(256, 512), (512, 512)]}  # fmt: skip
    backbone = sum(9 * cin * cout * side * side for side, layers in sizes.items() for cin, cout in layers)
    c = count("openpose-vgg19", (368, 368), {"num_refinement_stages": 1})
    assert c.part("backbone").macs == backbone
    assert c.part("conv4_3").macs == 9 * 512 * 256 * MAPS
    branch = lambda out: (49 * 185 * 128 + 4 * 49 * 128 * 128 + 128 * 128 + 128 * out) * MAPS  # noqa: E731
    assert c.part("refinement 1").macs == branch(38) + branch(19)


def test_lightweight_cpm_by_hand() -> None:
    c = count("lightweight-openpose")
    align, depthwise, pointwise = 512 * 128, 9 * 128, 128 * 128
    assert c.part("conv4_3").macs == (align + 3 * (depthwise + pointwise)) * MAPS
    assert c.part("conv4_4").macs == 9 * 128 * 128 * MAPS


def test_six_stages_repeat_the_refinement_stage() -> None:
    six = count("openpose-vgg19")
    assert six.stages == 6 and six.params == 52_311_446
    stages = [six.part(f"refinement {k}") for k in range(1, 6)]
    assert {(s.params, s.macs, s.other_ops) for s in stages} == {(8_784_825, 18_585_318_912, 6_620_964)}
    assert six.macs == 135_934_006_784


def test_counts_follow_the_input_size() -> None:
    """Every map is H/2^k x W/2^k for multiples of 8, so MACs scale exactly with the pixel count."""
    for model in PINNED:
        a, b = count(model, (368, 368)), count(model, (256, 456))
        assert a.macs * 256 * 456 == b.macs * 368 * 368
        assert a.params == b.params


def test_stages_option_counts_total_stages() -> None:
    assert stages_config("openpose-vgg19", 2) == {"num_refinement_stages": 1}
    assert stages_config("lightweight-openpose", None) == {"num_refinement_stages": 1}
    assert count("lightweight-openpose", config=stages_config("lightweight-openpose", 4)).stages == 4
    with pytest.raises(PoseforgeError, match="at least its initial stage"):
        stages_config("openpose-vgg19", 0)


def test_part_of_refuses_unknown_modules() -> None:
    assert part_of("cpm.conv.0") == "conv4_4" and part_of("cpm.trunk.0.2") == "conv4_3"
    assert part_of("refinement_stages.3.pafs.0.0") == "refinement 4"
    with pytest.raises(PoseforgeError, match="cannot place"):
        part_of("decoder.0.weight")


@pytest.mark.parametrize("text", ["368", "368x", "0x368", "367x368", "axb"])
def test_bad_input_sizes(text: str) -> None:
    with pytest.raises(PoseforgeError):
        parse_input(text)


@pytest.mark.parametrize("text", ["800000000x800000000", "99999999999999999999999992x8"])
def test_an_input_larger_than_any_image_is_refused(text: str) -> None:
    """torch's meta shapes overflowed on these (RuntimeError, TypeError) instead of a one-line refusal."""
    with pytest.raises(PoseforgeError, match=r"more than \d+ pixels"):
        parse_input(text)


@pytest.mark.slow
def test_info_json_is_the_count() -> None:
    result = run_cli("info", "openpose-vgg19", "--stages", "2", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stages"] == 2 and doc["input"] == [368, 368]
    assert doc["total"]["params"] == 17_172_146
    parts = {p["name"]: p for p in doc["parts"]}
    assert parts["conv4_4"]["macs"] == 624_033_792 and parts["conv4_4"]["gflops"] == pytest.approx(2 * 0.624033792)
    assert "random-init" in doc["weights"]


@pytest.mark.slow
def test_info_table_names_the_convention() -> None:
    result = run_cli("info", "lightweight-openpose", "--input", "256x456")
    assert result.returncode == 0, result.stderr
    for text in ("256x456", "CPM: conv4_3", "refinement stage 1", "GMACs", "4,091,698", "multiply-accumulate"):
        assert text in result.stdout
    bad = run_cli("info", "lightweight-openpose", "--input", "250x456")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1

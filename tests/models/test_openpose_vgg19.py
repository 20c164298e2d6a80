"""The original OpenPose network: layer sizes as Cao et al. 2017 describe them, random-init, make ir."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from poseforge.convert.parity import TOLERANCES, find_artifacts, parity, parity_inputs, violations
from poseforge.ir_files import read_ir
from poseforge.metadata import get_ir_metadata
from poseforge.models import build_network, get_spec
from poseforge.models.checkpoint import infer_config, load_checkpoint, random_checkpoint, save_checkpoint
from tests.conftest import run_cli, run_make

MODEL = "openpose-vgg19"

# The architecture written out independently of the module: (kernel, in, out) of every convolution.
VGG = [(3, 3, 64), (3, 64, 64), (3, 64, 128), (3, 128, 128), (3, 128, 256), (3, 256, 256), (3, 256, 256),
       (3, 256, 256), (3, 256, 512), (3, 512, 512)]  # fmt: skip
CPM = [(3, 512, 256), (3, 256, 128)]


def stage1_branch(out: int) -> list[tuple[int, int, int]]:
    return [(3, 128, 128)] * 3 + [(1, 128, 512), (1, 512, out)]


def refinement_branch(out: int) -> list[tuple[int, int, int]]:
    return [(7, 185, 128)] + [(7, 128, 128)] * 4 + [(1, 128, 128), (1, 128, out)]


def described_params(refinement_stages: int) -> int:
    layers = VGG + CPM + stage1_branch(38) + stage1_branch(19)
    layers += (refinement_branch(38) + refinement_branch(19)) * refinement_stages
    return sum(k * k * cin * cout + cout for k, cin, cout in layers)


@pytest.mark.parametrize(("refinement", "expected"), [(5, 52_311_446), (1, 17_172_146)])
def test_parameter_count_is_the_described_architecture(refinement: int, expected: int) -> None:
    net = build_network(MODEL, {"num_refinement_stages": refinement})
    assert sum(p.numel() for p in net.parameters()) == described_params(refinement) == expected


def test_default_is_the_six_stage_coco_release() -> None:
    net = build_network(MODEL)
    assert len(net.refinement_stages) == 5
    assert sum(p.numel() for p in net.parameters()) == 52_311_446  # the well-known 52.3 M


def test_layer_shapes_follow_the_caffe_model() -> None:
    state = build_network(MODEL, {"num_refinement_stages": 1}).state_dict()
    assert state["model.conv1_1.0.weight"].shape == (64, 3, 3, 3)
    assert state["model.conv4_2.0.weight"].shape == (512, 512, 3, 3)
    assert state["cpm.conv4_3.0.weight"].shape == (256, 512, 3, 3)
    assert state["cpm.conv4_4.0.weight"].shape == (128, 256, 3, 3)
    assert state["initial_stage.pafs.3.0.weight"].shape == (512, 128, 1, 1)
    assert state["initial_stage.heatmaps.4.0.weight"].shape == (19, 512, 1, 1)
    assert state["refinement_stages.0.pafs.0.0.weight"].shape == (128, 185, 7, 7)
    assert state["refinement_stages.0.heatmaps.6.0.weight"].shape == (19, 128, 1, 1)
    assert not any("running_mean" in key for key in state)  # no BatchNorm in the original


def test_outputs_every_stage_at_stride_8() -> None:
    net = build_network(MODEL, {"num_refinement_stages": 2}).eval()
    with torch.no_grad():
        outputs = net(torch.zeros(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outputs] == [(1, 19, 8, 12), (1, 38, 8, 12)] * 3


def test_refinement_reads_pafs_heatmaps_features_in_that_order() -> None:
    """The Caffe release's concat_stage2: [L1 (pafs), L2 (heatmaps), conv4_4_CPM]."""
    net = random_checkpoint(MODEL, 0, {"num_refinement_stages": 1}).network()
    seen = {}

    def keep(name: str, value: torch.Tensor) -> None:  # a forward hook returning a value would replace the output
        seen[name] = value.clone()

    net.refinement_stages[0].pafs[0].register_forward_hook(lambda m, i, o: keep("input", i[0]))
    net.cpm.register_forward_hook(lambda m, i, o: keep("features", o))
    with torch.no_grad():
        heatmaps, pafs = net(torch.rand(1, 3, 64, 64) - 0.5)[:2]
    assert torch.equal(seen["input"], torch.cat([pafs, heatmaps, seen["features"]], dim=1))


def test_normalisation_is_the_original_one() -> None:
    assert get_spec(MODEL).normalization == {"scale": [1 / 256] * 3, "shift": [-0.5] * 3}


def test_random_checkpoint_says_it_is_not_trained(tmp_path: Path) -> None:
    ckpt = random_checkpoint(MODEL, 3, {"num_refinement_stages": 1})
    source = ckpt.metadata["source"]
    assert source["kind"] == "random-init" and source["trained"] is False and source["seed"] == 3
    assert len(source["sha256"]) == 64
    path = save_checkpoint(ckpt, tmp_path / "model.pth")
    loaded = load_checkpoint(path)
    assert loaded.config == {"num_refinement_stages": 1}
    assert infer_config(MODEL, loaded.state_dict) == loaded.config
    assert loaded.metadata["source"] == source


def test_random_checkpoint_is_seeded() -> None:
    a, b, c = (random_checkpoint("lightweight-openpose", seed) for seed in (0, 0, 1))
    assert a.metadata["source"]["sha256"] == b.metadata["source"]["sha256"] != c.metadata["source"]["sha256"]
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    # BatchNorm statistics are not the identity, so that folding them is exercised
    assert not torch.equal(a.state_dict["model.0.1.running_var"], torch.ones(32))


@pytest.mark.slow
def test_random_weights_keep_outputs_clear_of_denormals() -> None:
    net = random_checkpoint(MODEL, 0, {"num_refinement_stages": 5}).deployable()
    with torch.no_grad():
        heatmaps, pafs = net(torch.rand(1, 3, 64, 64) * 255)
    for out in (heatmaps, pafs):
        assert 1e-3 < float(out.abs().mean()) < 10


@pytest.mark.slow
def test_init_command_writes_a_checkpoint_and_refuses_bad_stages(tmp_path: Path) -> None:
    out = tmp_path / "model.pth"
    result = run_cli("init", "--model", MODEL, "--stages", "2", "--seed", "7", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "NOT trained" in result.stdout
    ckpt = load_checkpoint(out)
    assert ckpt.config == {"num_refinement_stages": 1} and ckpt.metadata["source"]["seed"] == 7
    for args, code in ((("--stages", "0"), 2), (("--stages", "10"), 2), (("--model", "no-such-net"), 1)):
        bad = run_cli("init", "--model", MODEL, *args, "-o", str(tmp_path / "bad.pth"))
        assert bad.returncode == code and bad.stderr.count("\n") == 1, bad.stderr
        assert not (tmp_path / "bad.pth").exists()


def test_make_ir_converts_the_random_network(vgg19_build: Path, assets: Path) -> None:
    assert (
        run_make("-q", "ir", MODEL=MODEL, STAGES="2", BUILD=str(vgg19_build.parent), DATA=str(assets)).returncode == 0
    )
    for precision in ("fp32", "fp16"):
        model = read_ir(vgg19_build / "ir" / precision / "model.xml")
        assert [o.get_any_name() for o in model.outputs] == ["heatmaps", "pafs"]
        meta = get_ir_metadata(model)
        assert meta["model"] == MODEL and meta["config"] == {"num_refinement_stages": 1}
        assert meta["source"]["kind"] == "random-init" and meta["source"]["trained"] is False
        assert meta["normalization"]["shift"] == [-0.5] * 3


def test_every_artifact_agrees_with_torch(vgg19_build: Path, coco_images: list[Path]) -> None:
    table = parity(find_artifacts(vgg19_build), parity_inputs(coco_images[:1]))
    assert {row.artifact for row in table} == set(TOLERANCES)
    assert violations(table) == []

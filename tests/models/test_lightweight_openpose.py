"""The upstream architecture: state_dict layout, parameter count, outputs on the golden fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from poseforge.models import build_network
from poseforge.models.checkpoint import import_checkpoint


def test_state_dict_keys_shapes_and_order_equal_upstream(assets: Path) -> None:
    fixture = json.loads((assets / "upstream" / "lwop_state_dict_keys.json").read_text())
    net = build_network("lightweight-openpose")
    ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in net.state_dict().items()]
    assert ours == fixture["state_dict"]
    assert sum(p.numel() for p in net.parameters()) == fixture["num_parameters"] == 4_091_698


def test_random_upstream_checkpoint_reproduces_golden_outputs(assets: Path) -> None:
    ckpt = import_checkpoint("lightweight-openpose", assets / "upstream" / "lwop_random_checkpoint.pth")
    golden = np.load(assets / "upstream" / "lwop_random_golden.npz")
    with torch.no_grad():
        outputs = ckpt.network()(torch.from_numpy(golden["input"]))
    names = ("stage0_heatmaps", "stage0_pafs", "stage1_heatmaps", "stage1_pafs")
    assert len(outputs) == len(names)
    for name, output in zip(names, outputs, strict=True):
        assert output.shape == golden[name].shape
        assert np.abs(output.numpy() - golden[name]).max() <= 1e-5, name


def test_deployable_network_takes_raw_pixels(assets: Path) -> None:
    """Normalisation (x-128)/256 is inside the deployable graph: raw pixels give the golden outputs."""
    ckpt = import_checkpoint("lightweight-openpose", assets / "upstream" / "lwop_random_checkpoint.pth")
    golden = np.load(assets / "upstream" / "lwop_random_golden.npz")
    raw = torch.from_numpy(golden["input"] * 256 + 128)
    with torch.no_grad():
        heatmaps, pafs = ckpt.deployable()(raw)
    assert np.abs(heatmaps.numpy() - golden["stage1_heatmaps"]).max() <= 1e-5
    assert np.abs(pafs.numpy() - golden["stage1_pafs"]).max() <= 1e-5


def test_refinement_stages_are_configurable() -> None:
    one = build_network("lightweight-openpose")
    three = build_network("lightweight-openpose", {"num_refinement_stages": 3})
    with torch.no_grad():
        outputs = three.eval()(torch.zeros(1, 3, 64, 64))
    assert len(outputs) == 2 * 4
    assert sum(p.numel() for p in three.parameters()) > sum(p.numel() for p in one.parameters())

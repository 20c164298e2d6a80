"""Checkpoint loading: every way a file can be wrong gives a one-line error and writes nothing."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from poseforge.errors import PoseforgeError
from poseforge.fileio import LEDGER
from poseforge.models.checkpoint import import_checkpoint, load_checkpoint, save_checkpoint
from tests.conftest import run_cli

MODEL = "lightweight-openpose"


@pytest.fixture(scope="module")
def upstream(assets: Path) -> Path:
    return assets / "upstream" / "lwop_random_checkpoint.pth"


@pytest.fixture(scope="module")
def state_dict(upstream: Path) -> OrderedDict:
    return torch.load(upstream, weights_only=True)["state_dict"]


class Payload:
    """Unpickling this would run code of ours: weights_only=True must refuse it."""

    def __reduce__(self):
        return (print, ("this must not run",))


def expect_error(path: Path, match: str, tmp_path: Path) -> None:
    with pytest.raises(PoseforgeError, match=match):
        import_checkpoint(MODEL, path)
    out = tmp_path / "out" / "model.pth"
    result = run_cli("checkpoint", "--model", MODEL, str(path), "-o", str(out))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poseforge: error:"), result.stderr
    assert not out.parent.exists() or not any(out.parent.iterdir()), "a failed stage wrote something"


@pytest.mark.slow
def test_missing_checkpoint(tmp_path: Path) -> None:
    expect_error(tmp_path / "absent.pth", "checkpoint not found", tmp_path)


def test_truncated_checkpoint(upstream: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.pth"
    path.write_bytes(upstream.read_bytes()[:100_000])
    expect_error(path, "truncated or corrupt", tmp_path)


@pytest.mark.slow
def test_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    expect_error(path, "not a (readable )?PyTorch checkpoint", tmp_path)


@pytest.mark.slow
def test_pickle_that_weights_only_refuses(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "payload": Payload()}, path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    expect_error(path, r"weights_only=True\) refuses", tmp_path)
    assert "this must not run" not in capfd.readouterr().out


def test_missing_unexpected_and_misshaped_keys_are_named(state_dict: OrderedDict, tmp_path: Path) -> None:
    broken = OrderedDict(state_dict)
    del broken["cpm.align.0.weight"]
    broken["extra.layer.weight"] = torch.zeros(3)
    broken["initial_stage.heatmaps.1.0.bias"] = torch.zeros(17)
    path = tmp_path / "broken.pth"
    torch.save({"state_dict": broken}, path)
    with pytest.raises(PoseforgeError) as info:
        import_checkpoint(MODEL, path)
    message = str(info.value)
    assert "1 missing key: cpm.align.0.weight" in message
    assert "1 unexpected key: extra.layer.weight" in message
    assert "initial_stage.heatmaps.1.0.bias (17,) != (19,)" in message
    expect_error(path, "does not fit the network", tmp_path)


WEIGHT = "model.0.0.weight"  # a float32 convolution weight of the network


def _hostile_weights() -> dict[str, object]:
    """Ways a tensor of the right shape is not the network's weight (torch converts most to float32 silently)."""

    def beyond_float32(w: torch.Tensor) -> torch.Tensor:
        w = w.double()
        w.view(-1)[0] = 1e300  # finite in float64, inf in float32
        return w

    return {
        "float64 beyond float32": (beyond_float32, "non-finite values"),
        "complex": (lambda w: torch.complex(w, torch.full_like(w, float("nan"))), "complex64 tensor"),
        "bool": (lambda w: w > 0, "torch.bool tensor"),
        "int64": (lambda w: torch.full(w.shape, 2**62), "torch.int64 tensor"),
        "sparse": (lambda w: w.to_sparse(), "sparse_coo"),
    }


@pytest.mark.parametrize("kind", list(_hostile_weights()))
def test_a_weight_that_is_not_a_float_weight_is_refused(state_dict: OrderedDict, tmp_path: Path, kind: str) -> None:
    make, match = _hostile_weights()[kind]
    path = tmp_path / "hostile.pth"
    torch.save({"state_dict": OrderedDict(state_dict, **{WEIGHT: make(state_dict[WEIGHT])})}, path)
    with pytest.raises(PoseforgeError, match=f"{WEIGHT} .*{match}"):
        import_checkpoint(MODEL, path)


def test_a_weight_beyond_float32_is_refused_in_one_line(state_dict: OrderedDict, tmp_path: Path) -> None:
    """A float64 weight that float32 cannot hold: model.pth was written, holding inf, and export refused it."""
    make, _ = _hostile_weights()["float64 beyond float32"]
    path = tmp_path / "big.pth"
    torch.save({"state_dict": OrderedDict(state_dict, **{WEIGHT: make(state_dict[WEIGHT])})}, path)
    expect_error(path, "non-finite values", tmp_path)


def test_a_normalised_checkpoint_with_a_weight_beyond_float32_is_refused(upstream: Path, tmp_path: Path) -> None:
    ckpt = import_checkpoint(MODEL, upstream)
    path = tmp_path / "model.pth"
    payload = torch.load(save_checkpoint(ckpt, path), weights_only=True)
    payload["state_dict"][WEIGHT] = _hostile_weights()["float64 beyond float32"][0](payload["state_dict"][WEIGHT])
    torch.save(payload, path)
    with pytest.raises(PoseforgeError, match=f"{WEIGHT} holds non-finite values"):
        load_checkpoint(path)


VARIANCE = "model.0.1.running_var"  # a BatchNorm running variance of the network


def test_a_negative_batchnorm_variance_is_refused_by_every_stage(
    state_dict: OrderedDict, upstream: Path, tmp_path: Path
) -> None:  # fmt: skip
    """A checkpoint with a negative BatchNorm running_var was accepted by `poseforge checkpoint` and `export`:
    only validate and parity refused, later, the NaN the network output."""
    negative = state_dict[VARIANCE].clone()
    negative[3] = -0.5
    path = tmp_path / "negative.pth"
    torch.save({"state_dict": OrderedDict(state_dict, **{VARIANCE: negative})}, path)
    expect_error(path, f"{VARIANCE} holds a negative variance \\(-0.5\\)", tmp_path)
    model = save_checkpoint(import_checkpoint(MODEL, upstream), tmp_path / "model.pth")
    payload = torch.load(model, weights_only=True)
    payload["state_dict"][VARIANCE] = negative
    torch.save(payload, model)
    with pytest.raises(PoseforgeError, match=f"{VARIANCE} holds a negative variance"):
        load_checkpoint(model)
    onnx = tmp_path / "onnx" / "model.onnx"
    result = run_cli("export", str(model), "-o", str(onnx))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"poseforge: error: {model}: {VARIANCE} holds a negative variance")
    assert not onnx.exists()


def test_a_state_dict_with_names_that_are_not_strings_is_refused(state_dict: OrderedDict, tmp_path: Path) -> None:
    path = tmp_path / "numbered.pth"
    torch.save({"state_dict": dict(enumerate(state_dict.values()))}, path)
    expect_error(path, "holds no state_dict", tmp_path)


@pytest.mark.slow
def test_state_dict_without_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    expect_error(path, "holds no state_dict", tmp_path)


def test_unknown_model(upstream: Path, tmp_path: Path) -> None:
    with pytest.raises(PoseforgeError, match="unknown model 'resnet'"):
        import_checkpoint("resnet", upstream)
    result = run_cli("checkpoint", "--model", "resnet", str(upstream), "-o", str(tmp_path / "m.pth"))
    assert result.returncode != 0 and "unknown model 'resnet'; known models:" in result.stderr


def test_bare_and_dataparallel_state_dicts_load(state_dict: OrderedDict, tmp_path: Path) -> None:
    bare, parallel = tmp_path / "bare.pth", tmp_path / "parallel.pth"
    torch.save(state_dict, bare)
    torch.save({"state_dict": OrderedDict((f"module.{k}", v) for k, v in state_dict.items())}, parallel)
    for path in (bare, parallel):
        ckpt = import_checkpoint(MODEL, path)
        assert all(torch.equal(ckpt.state_dict[k], v) for k, v in state_dict.items())


def test_normalised_checkpoint_round_trips_and_loads_weights_only(upstream: Path, tmp_path: Path) -> None:
    ckpt = import_checkpoint(MODEL, upstream)
    path = save_checkpoint(ckpt, tmp_path / "model.pth")
    assert torch.load(path, weights_only=True)["format"] == "poseforge.checkpoint/1"
    again = load_checkpoint(path)
    assert again.metadata == ckpt.metadata and again.config == {"num_refinement_stages": 1}
    assert all(torch.equal(again.state_dict[k], v) for k, v in ckpt.state_dict.items())
    assert again.metadata["source"]["sha256"] == ckpt.metadata["source"]["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [LEDGER, "model.pth"]  # no temporary left behind


def test_an_upstream_checkpoint_is_not_a_normalised_one(upstream: Path) -> None:
    with pytest.raises(PoseforgeError, match="is not a poseforge checkpoint"):
        load_checkpoint(upstream)

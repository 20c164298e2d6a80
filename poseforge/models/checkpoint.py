"""Checkpoints: reading a user's (upstream) checkpoint and the normalised one every stage starts from.

The normalised checkpoint `model.pth` is a plain dict that loads with `weights_only=True`:
  format, model, config, state_dict, normalization, metadata
where `metadata` is the artifact metadata (see `poseforge.metadata`) that every later
artifact inherits.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import struct
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poseforge.documents import (
    MAX_REFINEMENT_STAGES,
    METADATA,
    NORMALIZATION,
    FieldError,
    check_document,
    regular_file,
)
from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file
from poseforge.metadata import network_metadata
from poseforge.models import DeployableNetwork, build_network, check_config, get_spec
from poseforge.text import plural

FORMAT = "poseforge.checkpoint/1"
# What a checkpoint may hold, all records together, checked before torch reads it: the largest
# network here (openpose-vgg19, 6 stages, 52 M float32 parameters) with Adam's two moments in a
# training checkpoint is about 0.6 GB.
MAX_CHECKPOINT_BYTES = 1 << 30
MAX_RECORDS = 100_000  # tensors and pickles of one checkpoint (a state_dict has hundreds)


@dataclass
class Checkpoint:
    model: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    normalization: dict[str, list[float]]
    metadata: dict[str, Any]

    def network(self) -> nn.Module:
        """The bare network (normalised input, every stage's outputs), in eval mode."""
        net = build_network(self.model, self.config)
        net.load_state_dict(self.state_dict)
        return net.eval()

    def deployable(self) -> DeployableNetwork:
        """Raw BGR pixels in, last-stage (heatmaps, pafs) out, in eval mode."""
        return DeployableNetwork(self.network(), self.normalization).eval()


def check_archive(path: Path, max_bytes: int = MAX_CHECKPOINT_BYTES) -> None:
    """Bound what torch.load would inflate, from the zip's central directory, before it reads a
    record: at most MAX_RECORDS records, each stored (torch.save never compresses; a deflated
    record is how a few MB on disk become gigabytes in memory), `max_bytes` in all. A file that is
    not a zip (torch's legacy format) holds what it is: its size is the bound."""
    size = path.stat().st_size
    if size > max_bytes:
        raise PoseforgeError(f"{path} is {size} bytes: more than any checkpoint ({max_bytes} bytes at most)")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return
        entries = _zip_entries(f, size)
    if entries is not None and entries > MAX_RECORDS:
        raise PoseforgeError(f"{path} holds {entries} records: more than any checkpoint ({MAX_RECORDS} at most)")
    try:
        with zipfile.ZipFile(path) as archive:
            total = 0
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                    raise PoseforgeError(
                        f"{path}: record {info.filename[:80]!r} is compressed ({info.compress_size} bytes inflating to "
                        f"{info.file_size}); torch.save stores records as they are: refused before reading it"
                    )
                total += info.file_size
            if total > max_bytes:
                raise PoseforgeError(f"{path}: its records hold {total} bytes, more than any checkpoint ({max_bytes})")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, struct.error) as exc:
        raise PoseforgeError(f"{path} is not a readable PyTorch checkpoint, truncated or corrupt ({exc})") from None


def _zip_entries(f: io.BufferedReader, size: int) -> int | None:
    """The number of records a zip's end of central directory declares (zip64 included), None if not found."""
    tail = min(size, 22 + 0xFFFF)
    f.seek(size - tail)
    data = f.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(data):
        return None
    entries = struct.unpack_from("<H", data, at + 10)[0]
    locator = at - 20
    if entries == 0xFFFF and locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", data, locator + 8)[0]
        if offset + 56 > size:
            return None
        f.seek(offset)
        record = f.read(56)
        if record[:4] == b"PK\x06\x06":
            return struct.unpack_from("<Q", record, 32)[0]
    return entries


def torch_load(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` with one-line errors for the ways a file can be wrong, and
    what it may inflate bounded first (`check_archive`)."""
    path = regular_file(path, "checkpoint")
    check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            # torch's message is a page of advice with terminal escapes; keep the line that says what was refused.
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc))
            lines = [ln.strip().removeprefix("WeightsUnpickler error:").strip() for ln in text.splitlines()]
            lines = [ln for ln in lines if ln]
            detail = next((ln for ln in lines if ln.lower().startswith(("unsupported", "trying to load"))), lines[0])
            raise PoseforgeError(
                f"{path} holds objects that torch.load(weights_only=True) refuses to unpickle ({detail}); "
                "refused for safety: re-save it with tensors and plain containers only"
            ) from None
        raise PoseforgeError(f"{path} is not a PyTorch checkpoint ({exc})") from None
    except Exception as exc:  # the unpickler fails in many ways on a file that is not a checkpoint
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PoseforgeError(f"{path} is not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None


def extract_state_dict(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in an upstream training checkpoint, a bare state_dict or a poseforge checkpoint."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    named = isinstance(obj, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    if not obj or not named:
        raise PoseforgeError(
            f"{path} holds no state_dict (expected a dict of names to tensors, or one under 'state_dict')"
        )
    # A checkpoint saved from nn.DataParallel prefixes every key with "module.".
    if all(k.startswith("module.") for k in obj):
        obj = OrderedDict((k.removeprefix("module."), v) for k, v in obj.items())
    return obj


def infer_config(model: str, state_dict: dict[str, torch.Tensor], where: object = "the checkpoint") -> dict[str, Any]:
    """Architecture options a checkpoint implies (the number of refinement stages), bounded
    (documents.MAX_REFINEMENT_STAGES) before any network is built from them."""
    stages = {int(m.group(1)) for k in state_dict if (m := re.match(r"refinement_stages\.(\d{1,6})\.", k))}
    config = dict(get_spec(model).default_config)
    if "num_refinement_stages" in config:
        config["num_refinement_stages"] = max(stages) + 1 if stages else 0
        if config["num_refinement_stages"] > MAX_REFINEMENT_STAGES:
            raise PoseforgeError(
                f"{where} holds keys of refinement stage {max(stages)}: more than the "
                f"{MAX_REFINEMENT_STAGES} refinement stages any OpenPose network has; refused"
            )
    return config


def check_finite(state_dict: dict[str, torch.Tensor], where: object) -> None:
    """Refuse NaN or inf weights: a network built from them computes nothing meaningful."""
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise PoseforgeError(
                f"{where}: {key} holds non-finite values (NaN or inf, or beyond {tensor.dtype}'s range): refused"
            )


def check_variances(state_dict: dict[str, torch.Tensor], where: object) -> None:
    """Refuse a negative BatchNorm running variance: no data has one, and normalising divides by the
    square root of variance + eps, NaN for any below -eps, in every output the channel reaches."""
    for key, tensor in state_dict.items():
        if key.endswith("running_var") and bool((tensor < 0).any()):
            raise PoseforgeError(f"{where}: {key} holds a negative variance ({tensor.min().item():g}), which no "
                                 "data has (BatchNorm outputs NaN from it): refused")  # fmt: skip


def check_kinds(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], where: object) -> None:
    """Refuse a tensor that is not a plain dense one of the network's kind (real floating-point weights,
    integer counters): torch would turn a complex, boolean, integer or quantized tensor into float
    weights without a word, and a sparse one fails deep inside it."""
    for key, want in expected.items():
        tensor = given[key]
        plain = tensor.layout == torch.strided and not tensor.is_quantized and not tensor.is_complex()
        if not plain or tensor.dtype == torch.bool or tensor.is_floating_point() != want.is_floating_point():
            raise PoseforgeError(
                f"{where}: {key} is a {tensor.dtype} tensor ({str(tensor.layout).removeprefix('torch.')}) where the "
                f"network holds {want.dtype} values: refused"
            )


def conform(
    expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], where: object
) -> dict[str, torch.Tensor]:
    """`given` checked against the network's state_dict `expected` (keys, shapes, kinds) and converted to
    its key order and dtypes (the checkpoint is then byte-stable); the values checked finite once
    converted, as the network will hold them (a float64 1e300 becomes inf in float32), and its BatchNorm
    variances checked not negative."""
    check_state_dict(expected, given, where)
    check_kinds(expected, given, where)
    state_dict = OrderedDict((k, given[k].detach().to(v.dtype).clone()) for k, v in expected.items())
    check_finite(state_dict, where)
    check_variances(state_dict, where)
    return state_dict


def check_state_dict(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], path: str | Path) -> None:
    """Refuse missing, unexpected or mis-shaped keys, naming them."""

    def names(keys: list[str]) -> str:
        shown = ", ".join(keys[:4])
        return shown + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    misshaped = [
        f"{k} {tuple(given[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and tuple(given[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{plural(len(missing), 'missing key')}: {names(missing)}")
    if unexpected:
        problems.append(f"{plural(len(unexpected), 'unexpected key')}: {names(unexpected)}")
    if misshaped:
        problems.append(f"{plural(len(misshaped), 'mis-shaped key')}: {names(misshaped)}")
    if problems:
        raise PoseforgeError(f"{path} does not fit the network: " + "; ".join(problems))


def make_checkpoint(
    model: str,
    state_dict: dict[str, torch.Tensor],
    source: dict[str, Any],
    normalization: dict[str, list[float]] | None = None,
    config: dict[str, Any] | None = None,
) -> Checkpoint:
    """Validate `state_dict` against the network and wrap it with its metadata."""
    spec = get_spec(model)
    where = source.get("file", model)
    config = config if config is not None else infer_config(model, state_dict, where)
    state_dict = conform(build_network(model, config).state_dict(), state_dict, where)
    normalization = normalization or spec.normalization
    meta = network_metadata(model, normalization, source, config)
    return Checkpoint(model, config, state_dict, normalization, meta)


def import_checkpoint(model: str, path: str | Path) -> Checkpoint:
    """Read a user's PyTorch checkpoint (upstream training format or a bare state_dict)."""
    state_dict = extract_state_dict(torch_load(path), path)
    source = {"kind": "pytorch-checkpoint", "file": Path(path).name, "sha256": sha256_file(path)}
    return make_checkpoint(model, state_dict, source)


def random_checkpoint(model: str, seed: int = 0, config: dict[str, Any] | None = None) -> Checkpoint:
    """Seeded random weights, NOT trained: for complexity and speed measurements only.

    PyTorch's own initialisation, seeded (its uniform biases keep activations of order 0.01..1 even
    through the 6-stage VGG network, clear of denormals that would slow a CPU down); BatchNorm gets
    non-trivial statistics so that folding it is exercised.
    """
    config = {**get_spec(model).default_config, **(config or {})}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        net = build_network(model, config)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    state = net.state_dict()
    digest = hashlib.sha256()
    for key, tensor in state.items():
        digest.update(key.encode())
        digest.update(tensor.numpy().tobytes())
    source = {
        "kind": "random-init",
        "trained": False,
        "seed": seed,
        "sha256": digest.hexdigest(),  # of the state_dict tensors, in order
        "note": "random weights, not trained: for complexity and speed only, its outputs mean nothing",
    }
    return make_checkpoint(model, state, source, config=config)


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    payload = {
        "format": FORMAT,
        "model": ckpt.model,
        "config": ckpt.config,
        "state_dict": ckpt.state_dict,
        "normalization": ckpt.normalization,
        "metadata": ckpt.metadata,
    }
    # Saved through a buffer: torch names the zip's records after a file's name, so saving to
    # the temporary file would make every rebuild's bytes differ.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a normalised poseforge checkpoint (`model.pth`)."""
    obj = torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise PoseforgeError(
            f"{path} is not a poseforge checkpoint (format {FORMAT}); "
            "make one with `poseforge checkpoint` or `poseforge import-ir`"
        )
    missing = [k for k in ("model", "config", "state_dict", "normalization", "metadata") if k not in obj]
    if missing:
        raise PoseforgeError(f"{path} is not a complete poseforge checkpoint: no {', '.join(missing)}")
    if not isinstance(obj["model"], str) or not isinstance(obj["config"], dict):
        raise PoseforgeError(f"{path}: its model name or config is malformed")
    get_spec(obj["model"])
    state_dict = obj["state_dict"]
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise PoseforgeError(f"{path}: its state_dict is not a map of names to tensors")
    try:
        NORMALIZATION(obj["normalization"], "normalization")
    except FieldError as exc:
        raise PoseforgeError(f"{path}: {exc}") from None
    check_document(obj["metadata"], METADATA, path)
    expected = build_network(obj["model"], check_config(obj["model"], obj["config"], path)).state_dict()
    state_dict = conform(expected, state_dict, path)
    return Checkpoint(obj["model"], obj["config"], state_dict, obj["normalization"], obj["metadata"])

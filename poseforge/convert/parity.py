"""Parity: every converted artifact must compute what the PyTorch checkpoint computes.

Each artifact runs on the same raw-pixel inputs (a golden tensor and real images under the
deploy and val protocols, so both the static deploy shape and other dynamic shapes are
covered) and is compared with the torch checkpoint: max abs difference and cosine
similarity of heatmaps and of pafs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.preprocess import prepare, to_nchw
from poseforge.runtime import open_runner

# Largest max-abs difference from torch that each artifact may show.
TOLERANCES = {"onnx": 1e-4, "onnx-sim": 1e-4, "ir-fp32": 1e-4, "ir-fp16": 2e-2}
ARTIFACT_FILES = {
    "torch": "model.pth",
    "onnx": "model.onnx",
    "onnx-sim": "model.sim.onnx",
    "ir-fp32": "ir/fp32/model.xml",
    "ir-fp16": "ir/fp16/model.xml",
}
OUTPUTS = ("heatmaps", "pafs")


@dataclass
class Agreement:
    """How closely one artifact follows a reference over a set of inputs."""

    max_abs: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OUTPUTS, 0.0))
    cosines: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in OUTPUTS})

    def add(self, got: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray]) -> None:
        for key, g, r in zip(OUTPUTS, got, ref, strict=True):
            if g.shape != r.shape:
                raise PoseforgeError(f"{key} shapes differ: {g.shape} vs {r.shape}")
            self.max_abs[key] = max(self.max_abs[key], float(np.abs(g - r).max()))
            self.cosines[key].append(cosine(g, r))

    def mean_cosine(self, key: str) -> float:
        return float(np.mean(self.cosines[key]))

    def worst(self) -> float:
        return max(self.max_abs.values())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def find_artifacts(model_dir: str | Path) -> dict[str, Path]:
    """The convert stage's artifacts present in `model_dir` (build/<model>)."""
    found = {name: Path(model_dir) / rel for name, rel in ARTIFACT_FILES.items()}
    found = {name: path for name, path in found.items() if path.is_file()}
    if "torch" not in found:
        raise PoseforgeError(f"no checkpoint {Path(model_dir) / 'model.pth'}: run `make checkpoint` first")
    return found


def parity_inputs(
    images: Iterable[str | Path], golden: np.ndarray | None = None, deploy_shape: tuple[int, int] = (256, 456)
) -> list[tuple[str, np.ndarray]]:
    """Named raw-pixel network inputs: the golden tensor, then each image under both protocols."""
    inputs = [("golden", golden.astype(np.float32))] if golden is not None else []
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise PoseforgeError(f"cannot decode image {path}")
        for protocol in ("deploy", "val"):
            inputs.append((f"{Path(path).name}:{protocol}", to_nchw(prepare(image, protocol, deploy_shape).image)))
    return inputs


def run_all(
    runner_for: Callable[[], object], inputs: list[tuple[str, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    runner = runner_for()
    return [runner.run(data) for _, data in inputs]


def parity(
    artifacts: dict[str, Path], inputs: list[tuple[str, np.ndarray]], reference: str = "torch"
) -> dict[str, Agreement]:
    """Agreement of every artifact with `reference` on `inputs`."""
    ref_outputs = run_all(lambda: open_runner(artifacts[reference]), inputs)
    table = {}
    for name, path in artifacts.items():
        if name == reference:
            continue
        agreement = Agreement()
        for got, ref in zip(run_all(lambda p=path: open_runner(p), inputs), ref_outputs, strict=True):
            agreement.add(got, ref)
        table[name] = agreement
    return table


def violations(table: dict[str, Agreement]) -> list[str]:
    """Artifacts whose worst difference exceeds their tolerance, as readable lines."""
    return [
        f"{name}: max abs {agreement.worst():.3g} > {TOLERANCES[name]}"
        for name, agreement in table.items()
        if name in TOLERANCES and agreement.worst() > TOLERANCES[name]
    ]


def run_parity(
    model_dir: str | Path,
    images_dir: str | Path | None = None,
    limit: int = 8,
    golden_npz: str | Path | None = None,
    omz_ir: str | Path | None = None,
) -> bool:
    """Compare every artifact in `model_dir` with its checkpoint and print one table; True if all hold."""
    from rich.table import Table

    from poseforge.ui import console

    artifacts = find_artifacts(model_dir)
    images = sorted(Path(images_dir).glob("*.jpg"))[:limit] if images_dir else []
    golden = np.load(golden_npz) if golden_npz else None
    golden_input = golden["input"] * 256 + 128 if golden is not None else None  # back to raw pixels
    inputs = parity_inputs(images, golden_input)
    if not inputs:
        raise PoseforgeError("nothing to compare on: give --images and/or --golden")
    rows = [(name, "torch", agreement) for name, agreement in parity(artifacts, inputs).items()]
    if golden is not None and "stage1_heatmaps" in golden:
        expected = (golden["stage1_heatmaps"], golden["stage1_pafs"])
        for name, path in artifacts.items():
            agreement = Agreement()
            agreement.add(open_runner(path).run(inputs[0][1]), expected)
            rows.append((name, "golden fixture", agreement))
    if omz_ir:
        rows += omz_rows(artifacts["torch"], omz_ir, inputs)

    table = Table(
        title=f"parity on {len(inputs)} inputs ({len(images)} images x 2 protocols"
        + (" + golden" if golden is not None else "")
        + ")"
    )
    for column in ("artifact", "vs", "max abs heatmaps", "max abs pafs", "cos heatmaps", "cos pafs", "tolerance"):
        table.add_column(column, justify="left" if column in ("artifact", "vs") else "right")
    ok = True
    for name, reference, agreement in rows:
        tolerance = TOLERANCES.get(name) if reference != "omz int8 release" else None
        if name == "torch" and reference == "golden fixture":
            tolerance = 1e-5
        holds = tolerance is None or agreement.worst() <= tolerance
        ok &= holds
        table.add_row(
            name, reference,
            f"{agreement.max_abs['heatmaps']:.2e}", f"{agreement.max_abs['pafs']:.2e}",
            f"{agreement.mean_cosine('heatmaps'):.6f}", f"{agreement.mean_cosine('pafs'):.6f}",
            "-" if tolerance is None else f"{tolerance:g} {'ok' if holds else 'FAIL'}",
        )  # fmt: skip
    console().print(table)
    return ok


def omz_rows(checkpoint: Path, omz_ir: str | Path, inputs: list[tuple[str, np.ndarray]]) -> list[tuple]:
    """The imported checkpoint and the IR's exact FP32 reference, both against the INT8 release."""
    from poseforge.ir_files import read_ir
    from poseforge.models.ir_import import ir_function

    ov_model = read_ir(omz_ir)
    runs = {
        "torch": open_runner(checkpoint).run,
        "omz fp32 reference": ir_function(ov_model, bypass_fakequantize=True),
        "omz int8 release": ir_function(ov_model),
    }
    outputs = {name: [run(data) for _, data in inputs] for name, run in runs.items()}
    rows = []
    for name, reference in (
        ("omz fp32 reference", "torch"),
        ("torch", "omz int8 release"),
        ("omz fp32 reference", "omz int8 release"),
    ):
        agreement = Agreement()
        for got, ref in zip(outputs[name], outputs[reference], strict=True):
            agreement.add(got, ref)
        rows.append((name if reference != "torch" else "omz fp32 reference", reference, agreement))
    return rows

"""Parity: every converted artifact must compute what the PyTorch checkpoint computes.

Each artifact runs on the same raw-pixel inputs (a golden tensor and real images under the
deploy and val protocols, so both the static deploy shape and other dynamic shapes are
covered) and is compared with the torch checkpoint: max abs difference and cosine
similarity of heatmaps and of pafs. The cosine takes each output over every input as one
vector: on an image without people the PAFs are near zero everywhere, and a cosine of that
image alone measures noise.

A conversion (ONNX, the FP32 and FP16 IRs) is judged by its max abs difference; the INT8 IR,
which computes in 8 bits and cannot match to a conversion's tolerance, by its cosine (both
stated once in poseforge.artifacts). Intel's INT8 release is shown, not judged: it computes
with its activation FakeQuantize, so it is not expected to match FP32.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poseforge.artifacts import ARTIFACTS, DEPLOY_SHAPE
from poseforge.documents import read_bytes
from poseforge.errors import PoseforgeError
from poseforge.images import read_image
from poseforge.preprocess import prepare, to_nchw
from poseforge.runtime import open_runner

# Largest max-abs difference from torch that each conversion may show, and the least cosine of a
# network that computes otherwise (INT8) (poseforge.artifacts).
TOLERANCES = {a.name: a.parity_tolerance for a in ARTIFACTS if a.parity_tolerance is not None}
MIN_COSINES = {a.name: a.parity_min_cosine for a in ARTIFACTS if a.parity_min_cosine is not None}
NOTES = {
    "cosine": "cos: each output against the reference's over every input as one vector (a per-image cosine "
    "measures noise where an image holds no person: its PAFs are near zero everywhere)",
    "int8": "ir-int8 computes in 8 bits: it cannot match torch to a conversion's max abs, so it is judged by its "
    "cosine, on images that hold people (the PAFs of a person-free image are near zero, and an 8-bit network's "
    "noise floor outweighs them); a coarse check, since a network that lost its heatmap peaks can keep a high "
    "cosine (its AP is the gate's)",
    "omz": "omz int8 release: Intel's INT8 network computes with its activation FakeQuantize (8-bit activations "
    "and weights), so it is not expected to match FP32: shown, not judged. omz fp32 reference: the same IR with its "
    "activation FakeQuantize bypassed, the FP32 network its weights were imported from",
}
GOLDEN_TOLERANCE = 1e-5  # torch against the upstream fixture's own outputs: the same network, bit for bit
# A golden fixture, on disk and inflated: one input and a few outputs (the upstream one inflates to 0.5 MB).
MAX_GOLDEN_BYTES = 64 << 20
OUTPUTS = ("heatmaps", "pafs")


@dataclass
class Agreement:
    """How closely one artifact follows a reference over a set of inputs."""

    max_abs: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OUTPUTS, 0.0))
    cosines: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in OUTPUTS})  # per input
    # Sums over every input of got . ref, got . got and ref . ref: the pooled cosine's terms.
    sums: dict[str, np.ndarray] = field(default_factory=lambda: {k: np.zeros(3) for k in OUTPUTS})

    def add(self, got: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray]) -> None:
        for key, g, r in zip(OUTPUTS, got, ref, strict=True):
            if g.shape != r.shape:
                raise PoseforgeError(f"{key} shapes differ: {g.shape} vs {r.shape}")
            self.max_abs[key] = max(self.max_abs[key], float(np.abs(g - r).max()))
            self.cosines[key].append(cosine(g, r))
            g64, r64 = g.ravel().astype(np.float64), r.ravel().astype(np.float64)
            self.sums[key] += (g64 @ r64, g64 @ g64, r64 @ r64)

    def mean_cosine(self, key: str) -> float:
        """The mean of the per-input cosines."""
        return float(np.mean(self.cosines[key]))

    def cosine(self, key: str) -> float:
        """The cosine of `key` over every input as one vector (what parity shows and judges)."""
        dot, gg, rr = self.sums[key]
        return float(dot / (np.sqrt(gg * rr) + 1e-30))

    def least_cosine(self) -> float:
        return min(self.cosine(key) for key in OUTPUTS)

    def worst(self) -> float:
        return max(self.max_abs.values())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def find_artifacts(model_dir: str | Path) -> dict[str, Path]:
    """The checkpoint, its conversions and its INT8 IR present in `model_dir` (build/<model>)."""
    judged = {"torch", *TOLERANCES, *MIN_COSINES}
    found = {a.name: Path(model_dir) / a.file for a in ARTIFACTS if a.name in judged}
    found = {name: path for name, path in found.items() if path.is_file()}
    if "torch" not in found:
        raise PoseforgeError(f"no checkpoint {Path(model_dir) / 'model.pth'}: run `make checkpoint` first")
    return found


def parity_inputs(
    images: Iterable[str | Path], golden: np.ndarray | None = None, deploy_shape: tuple[int, int] = DEPLOY_SHAPE
) -> list[tuple[str, np.ndarray]]:
    """Named raw-pixel network inputs: the golden tensor, then each image under both protocols."""
    inputs = [("golden", golden.astype(np.float32))] if golden is not None else []
    for path in images:
        image = read_image(path)
        for protocol in ("deploy", "val"):
            inputs.append((f"{Path(path).name}:{protocol}", to_nchw(prepare(image, protocol, deploy_shape).image)))
    return inputs


def run_all(
    runner_for: Callable[[], object], inputs: list[tuple[str, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    runner = runner_for()
    return [runner.run(data) for _, data in inputs]


@dataclass(frozen=True)
class Row:
    artifact: str
    reference: str  # "torch", "golden fixture" or "omz int8 release"
    agreement: Agreement
    tolerance: float | None  # largest max abs; None: not judged by it
    min_cosine: float | None = None  # least cosine; None: not judged by it

    @property
    def judged(self) -> bool:
        return self.tolerance is not None or self.min_cosine is not None

    @property
    def holds(self) -> bool:
        a = self.agreement
        return (self.tolerance is None or a.worst() <= self.tolerance) and (
            self.min_cosine is None or a.least_cosine() >= self.min_cosine
        )

    @property
    def rule(self) -> str:
        """The tolerance as shown: `1e-04 ok`, `cos >= 0.99 FAIL`, `-` (shown, not judged)."""
        if not self.judged:
            return "-"
        bound = f"{self.tolerance:g}" if self.tolerance is not None else f"cos >= {self.min_cosine:g}"
        return f"{bound} {'ok' if self.holds else 'FAIL'}"


def parity(artifacts: dict[str, Path], inputs: list[tuple[str, np.ndarray]], reference: str = "torch") -> list[Row]:
    """Every artifact against `reference` on `inputs`, with its tolerance (poseforge.artifacts)."""
    ref_outputs = run_all(lambda: open_runner(artifacts[reference]), inputs)
    rows = []
    for name, path in artifacts.items():
        if name == reference:
            continue
        agreement = Agreement()
        for got, ref in zip(run_all(lambda p=path: open_runner(p), inputs), ref_outputs, strict=True):
            agreement.add(got, ref)
        rows.append(Row(name, reference, agreement, TOLERANCES.get(name), MIN_COSINES.get(name)))
    return rows


def violations(rows: list[Row]) -> list[str]:
    """The rows outside their tolerance (max abs above it, or a cosine below it), as readable lines:
    parity's verdict."""
    out = []
    for row in rows:
        a = row.agreement
        if row.tolerance is not None and a.worst() > row.tolerance:
            out.append(f"{row.artifact} vs {row.reference}: max abs {a.worst():.3g} > {row.tolerance}")
        if row.min_cosine is not None and a.least_cosine() < row.min_cosine:
            out.append(f"{row.artifact} vs {row.reference}: cosine {a.least_cosine():.4f} < {row.min_cosine}")
    return out


def measure_parity(
    model_dir: str | Path,
    images_dir: str | Path | None = None,
    limit: int = 8,
    golden_npz: str | Path | None = None,
    omz_ir: str | Path | None = None,
) -> tuple[list[Row], int, bool]:
    """Every artifact in `model_dir` against its checkpoint (and the golden fixture, and the
    release IR): the rows, how many images, whether the golden tensor was used."""
    artifacts = find_artifacts(model_dir)
    images = sorted(Path(images_dir).glob("*.jpg"))[:limit] if images_dir else []
    golden = read_golden(golden_npz) if golden_npz else None
    golden_input = golden["input"] * 256 + 128 if golden is not None else None  # back to raw pixels
    inputs = parity_inputs(images, golden_input)
    if not inputs:
        raise PoseforgeError("nothing to compare on: give --images and/or --golden")
    rows = parity(artifacts, inputs)
    if golden is not None and "stage1_heatmaps" in golden:
        expected = (golden["stage1_heatmaps"], golden["stage1_pafs"])
        for name, path in artifacts.items():
            agreement = Agreement()
            agreement.add(open_runner(path).run(inputs[0][1]), expected)
            tolerance = GOLDEN_TOLERANCE if name == "torch" else TOLERANCES.get(name)
            rows.append(Row(name, "golden fixture", agreement, tolerance, MIN_COSINES.get(name)))
    if omz_ir:
        rows += [Row(name, reference, agreement, None) for name, reference, agreement in
                 omz_rows(artifacts["torch"], omz_ir, inputs)]  # fmt: skip
    return rows, len(images), golden is not None


def read_golden(path: str | Path) -> dict[str, np.ndarray]:
    """The golden fixture: an npz of finite float arrays, `input` [N, 3, H, W] (normalised as (x-128)/256) and
    optionally the outputs `stage1_heatmaps` and `stage1_pafs`; no pickles, at most MAX_GOLDEN_BYTES inflated
    (from the zip's directory, before a member is read)."""
    raw = read_bytes(path, "golden fixture", MAX_GOLDEN_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
        if inflated > MAX_GOLDEN_BYTES:
            raise PoseforgeError(
                f"{path} inflates to {inflated} bytes: more than any golden fixture ({MAX_GOLDEN_BYTES})"
            )
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            wanted = ["input", *(["stage1_heatmaps", "stage1_pafs"] if "stage1_heatmaps" in npz.files else [])]
            missing = [key for key in wanted if key not in npz.files]
            golden = {key: npz[key] for key in wanted if key in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise PoseforgeError(f"{path} is not a golden fixture, an npz of arrays ({str(exc)[:200]})") from None
    if missing:
        raise PoseforgeError(f"{path} holds no {', '.join(missing)} array: not a golden fixture")
    for key, array in golden.items():
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise PoseforgeError(f"{path}: {key} is not finite floating-point values ({array.dtype})")
    if golden["input"].ndim != 4 or golden["input"].shape[1] != 3:
        raise PoseforgeError(f"{path}: input is {list(golden['input'].shape)}, not [N, 3, H, W]")
    return golden


def render_parity(rows: list[Row], images: int, golden: bool) -> None:
    from rich.table import Table

    from poseforge.ui import console

    table = Table(title=f"parity on {images} images x 2 protocols" + (" + golden" if golden else ""))
    for column in ("artifact", "vs", "max abs heatmaps", "max abs pafs", "cos heatmaps", "cos pafs", "tolerance"):
        table.add_column(column, justify="left" if column in ("artifact", "vs") else "right")
    for row in rows:
        a = row.agreement
        table.add_row(
            row.artifact, row.reference,
            f"{a.max_abs['heatmaps']:.2e}", f"{a.max_abs['pafs']:.2e}",
            f"{a.cosine('heatmaps'):.6f}", f"{a.cosine('pafs'):.6f}", row.rule,
        )  # fmt: skip
    out = console()
    out.print(table)
    for line in parity_notes(rows):
        out.print(f"note: {line}", soft_wrap=True)


def parity_notes(rows: list[Row]) -> list[str]:
    """What the table's figures mean, for the rows it holds."""
    notes = [NOTES["cosine"]]
    if any(row.min_cosine is not None for row in rows):
        notes.append(NOTES["int8"])
    if any("omz" in row.artifact or "omz" in row.reference for row in rows):
        notes.append(NOTES["omz"])
    return notes


def run_parity(
    model_dir: str | Path,
    images_dir: str | Path | None = None,
    limit: int = 8,
    golden_npz: str | Path | None = None,
    omz_ir: str | Path | None = None,
) -> list[str]:
    """Measure, render the table, judge: the violations (empty when every artifact holds)."""
    rows, images, golden = measure_parity(model_dir, images_dir, limit, golden_npz, omz_ir)
    render_parity(rows, images, golden)
    return violations(rows)


def omz_rows(checkpoint: Path, omz_ir: str | Path, inputs: list[tuple[str, np.ndarray]]) -> list[tuple]:
    """The imported checkpoint and the IR's exact FP32 reference, both against the INT8 release."""
    from poseforge.convert.ir_import import release_runner
    from poseforge.ir_files import read_ir

    ov_model = read_ir(omz_ir)
    runs = {
        "torch": open_runner(checkpoint).run,
        "omz fp32 reference": release_runner(ov_model, bypass_fakequantize=True).run,
        "omz int8 release": release_runner(ov_model).run,
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

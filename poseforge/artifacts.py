"""The artifacts poseforge makes and the protocols it validates them under, defined once.

    for a in artifacts_for(model): a.name, a.file, a.runtime, a.precision, a.parity_tolerance
    artifact_digest("build/<model>/ir/fp32/model.xml")   # covers model.xml AND model.bin

Parity, validate, bench, report, the gate, bundles, the CLI's choices and the tests read
this table; a test checks the Makefile's artifact list against it. Standard library only.
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass
from pathlib import Path

from poseforge.errors import PoseforgeError

DEFAULT_MODEL = "human-pose-estimation-0001"
DEPLOY_SHAPE = (256, 456)  # height, width: the network's native camera input
PROTOCOLS = ("val", "deploy", "native")
# The native protocol runs at any input height the user picks (`input_height`, `--height`): the
# image's own aspect at that height. Heights are multiples of the network's stride, bounded.
HEIGHT_MULTIPLE = 8
HEIGHT_RANGE = (64, 1024)
DEFAULT_HEIGHT = DEPLOY_SHAPE[0]  # what bundles run unless told otherwise
# The frame whose native input at each height bench times for report.md's height table: a 640x480
# camera (256x344, 320x432, 368x496).
HEIGHT_TABLE_FRAME = (480, 640)
BUNDLE_PROTOCOLS = ("val", "deploy")  # a bundle carries their AP (and native's, when measured)
# The gate's default AP tolerance: same artifact, another machine moves AP by a few 1e-3
# (kernels, threads); INT8 kernels differ more across ISAs (VNNI or not).
AP_TOLERANCE = 0.005
INT8_AP_TOLERANCE = 0.010


@dataclass(frozen=True)
class Artifact:
    name: str
    file: str  # under build/<model>
    runtime: str  # torch, onnxruntime, openvino
    precision: str  # fp32, fp16, int8
    parity_tolerance: float | None  # largest max-abs difference from torch; None: not a conversion of it
    ap_tolerance: float
    # A network that computes otherwise (INT8) cannot match torch's outputs to a conversion's max-abs:
    # the least cosine of its outputs with torch's (each output over every parity input as one vector).
    parity_min_cosine: float | None = None
    bundle: bool = False  # can be packed into a deployment bundle
    model: str | None = None  # exists for this model only
    ours: bool = True  # made by poseforge (False: a release kept as a reference, judged by no bound of ours)

    @property
    def bundle_name(self) -> str:
        return f"bundle-{self.precision}"


# In report order: the checkpoint, its conversions, then the quantized networks.
ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("torch", "model.pth", "torch", "fp32", None, AP_TOLERANCE),
    Artifact("onnx", "model.onnx", "onnxruntime", "fp32", 1e-4, AP_TOLERANCE),
    Artifact("onnx-sim", "model.sim.onnx", "onnxruntime", "fp32", 1e-4, AP_TOLERANCE),
    Artifact("ir-fp32", "ir/fp32/model.xml", "openvino", "fp32", 1e-4, AP_TOLERANCE, bundle=True),
    Artifact("ir-fp16", "ir/fp16/model.xml", "openvino", "fp16", 2e-2, AP_TOLERANCE, bundle=True),
    # 0.97: ours measured 0.9998 (heatmaps) and 0.998 (pafs) on make parity's 8 coco-val images x 2 protocols,
    # with AMX and with AVX2 kernels alike, and 0.988 (pafs) on 8 coco-mini images, which hold fewer people (an
    # 8-bit network's PAFs carry a noise floor that a person-free image's near-zero PAFs cannot outweigh).
    Artifact(
        "ir-int8", "ir/int8/model.xml", "openvino", "int8", None, INT8_AP_TOLERANCE, bundle=True, parity_min_cosine=0.97
    ),
    Artifact(
        "omz-int8",
        "ir/omz-int8/model.xml",
        "openvino",
        "int8",
        None,
        INT8_AP_TOLERANCE,
        model=DEFAULT_MODEL,
        ours=False,
    ),
)
BY_NAME = {a.name: a for a in ARTIFACTS}
BUNDLE_PRECISIONS = tuple(a.precision for a in ARTIFACTS if a.bundle)
REFERENCE = "ir-fp32"  # what other artifacts' AP is compared with (paired differences)
OURS_INT8, INTEL_INT8 = "ir-int8", "omz-int8"  # our INT8 and Intel's release: report.md's "ours - Intel's"


# Precision hints other than f32 make a variant row of an artifact (`ir-fp32.bf16`): OpenVINO on
# CPUs with AVX-512 BF16 or AMX runs an FP32 IR in bf16 unless told f32.
VARIANT_HINTS = ("bf16",)
VARIANT_ARTIFACTS = ("ir-fp32",)  # the artifacts measured under VARIANT_HINTS too, where the CPU runs them natively


def runs(model: str, variant_hints: tuple[str, ...] = ()) -> list[tuple[str, Artifact, str]]:
    """Every run of a model's artifacts, in report order: (row name, artifact, precision hint); f32
    for each artifact, and each of `variant_hints` (those this CPU runs natively) for VARIANT_ARTIFACTS."""
    out = []
    for known in artifacts_for(model):
        out.append((known.name, known, "f32"))
        if known.name in VARIANT_ARTIFACTS:
            out += [(run_name(known.name, hint), known, hint) for hint in variant_hints if hint in VARIANT_HINTS]
    return out


def run_name(artifact_name: str, precision_hint: str | None) -> str:
    """The name of a report's row and file: the artifact, plus the precision hint when not f32."""
    return f"{artifact_name}.{precision_hint}" if precision_hint not in (None, "f32") else artifact_name


def check_height(height: object, what: str = "input height") -> int:
    """A native input height: an integer multiple of HEIGHT_MULTIPLE within HEIGHT_RANGE, or one line saying why not."""
    low, high = HEIGHT_RANGE
    integral = isinstance(height, numbers.Integral) and not isinstance(height, bool)
    if integral and low <= height <= high and not height % HEIGHT_MULTIPLE:
        return int(height)
    shown = repr(height)
    raise PoseforgeError(f"{what} {shown[:40]}{'...' if len(shown) > 40 else ''}: expected a multiple of "
                         f"{HEIGHT_MULTIPLE} from {low} to {high} (default {DEFAULT_HEIGHT})")  # fmt: skip


def protocol_key(protocol: str, height: int | None = None) -> str:
    """How a run's protocol is named in report files, baselines and bundles: the protocol, and for native at
    another height than DEFAULT_HEIGHT `native@<height>` (`ir-fp32-native@320.json`)."""
    if protocol != "native" or height in (None, DEFAULT_HEIGHT):
        return protocol
    return f"native@{height}"


def split_protocol_key(key: str) -> tuple[str, int | None]:
    """(protocol, its input height: None for val and deploy) of a protocol key; PoseforgeError if it is none."""
    protocol, at, height = key.partition("@")
    digits = height.isascii() and height.isdigit() and len(height) <= 4 and not height.startswith("0")
    if protocol not in PROTOCOLS or (at and (protocol != "native" or not digits)):
        raise PoseforgeError(f"unknown protocol {key!r}: expected one of {', '.join(PROTOCOLS)} or native@<height>")
    if not at:
        return protocol, DEFAULT_HEIGHT if protocol == "native" else None
    value = check_height(int(height), f"protocol {key!r}: height")
    if value == DEFAULT_HEIGHT:
        raise PoseforgeError(f"protocol {key!r}: native at height {DEFAULT_HEIGHT} is named `native`")
    return protocol, value


def protocol_label(key: str) -> str:
    """A protocol key in words: `val protocol`, `native protocol at height 320`."""
    protocol, height = split_protocol_key(key)
    return f"{protocol} protocol" + (f" at height {height}" if height is not None else "")


def report_key(report: dict) -> str:
    """The protocol key of a report (documents.REPORT): a native report records its `input_height`;
    one made before heights were recorded was measured at DEFAULT_HEIGHT."""
    return protocol_key(report["protocol"], report.get("input_height"))


def machine_dependent(name: str) -> bool:
    """True if a row's AP depends on the machine class as well as the artifact's bytes: INT8
    kernels and bf16 runs differ between ISA tiers; f32 runs of FP32 and FP16 networks do not
    (the same AP to the fourth decimal on AVX2 and AMX)."""
    known = BY_NAME.get(base_name(name))
    return name != base_name(name) or known is None or known.precision == "int8"


def ap_tolerance(name: str) -> float:
    """The gate's AP tolerance of a row: its artifact's; a variant (another precision hint) runs other
    kernels, so it gets the INT8 tolerance, like any machine-dependent run."""
    known = BY_NAME.get(name)
    return known.ap_tolerance if known is not None else INT8_AP_TOLERANCE


def deployable(fps: dict[str, float], aps: dict[str, float]) -> str | None:
    """Which run to deploy on a machine class: the fastest bundle-able run (artifact and precision
    hint) whose val AP there is within its tolerance of the FP32 IR's with f32; None without
    the FP32 IR's AP. `fps` and `aps` are keyed by run name, measured on that class."""
    if REFERENCE not in aps:
        return None
    candidates = [name for name in fps if name in aps and BY_NAME.get(base_name(name)) is not None
                  and BY_NAME[base_name(name)].bundle and aps[name] >= aps[REFERENCE] - ap_tolerance(name)]  # fmt: skip
    return max(candidates, key=lambda name: fps[name], default=None)


def base_name(name: str) -> str:
    """The artifact a row name is of (`ir-fp32.bf16` -> `ir-fp32`)."""
    return name.partition(".")[0]


def artifact(name: str) -> Artifact:
    try:
        return BY_NAME[name]
    except KeyError:
        raise PoseforgeError(f"unknown artifact {name!r}; known: {', '.join(BY_NAME)}") from None


def artifacts_for(model: str) -> list[Artifact]:
    return [a for a in ARTIFACTS if a.model in (None, model)]


def order(name: str) -> tuple[int, str]:
    """Report position of a row name (variants and bundles right after their IR, unknown names last)."""
    base = base_name(name).replace("bundle-", "ir-")
    return (ARTIFACTS.index(BY_NAME[base]) if base in BY_NAME else len(ARTIFACTS), name)


def artifact_files(path: str | Path) -> list[Path]:
    """Every file an artifact consists of: an IR is its .xml and .bin, an ONNX file may have
    external data beside it, anything else is one file."""
    path = Path(path)
    if path.suffix == ".xml":
        return [path, path.with_suffix(".bin")]
    if path.suffix == ".onnx":
        return [path, *_onnx_external_files(path)]
    return [path]


def _onnx_external_files(path: Path) -> list[Path]:
    try:
        import onnx
    except ImportError:  # the deployment install has no onnx and runs no ONNX files
        return []
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # an unreadable file: its reader says why
        return []
    names = sorted(
        {
            entry.value
            for tensor in model.graph.initializer
            if tensor.data_location == onnx.TensorProto.EXTERNAL
            for entry in tensor.external_data
            if entry.key == "location"
        }
    )
    for name in names:
        if Path(name).name != name:
            raise PoseforgeError(f"{path} refers to external data {name!r} outside its folder: refused")
    return [path.parent / name for name in names]


def artifact_digest(path: str | Path) -> str:
    """sha256 attesting every file of an artifact: the file's own sha256 for a one-file
    artifact, else the sha256 of the lines `<name>:<sha256>` of its files in order."""
    from poseforge.fileio import sha256_file

    files = artifact_files(path)
    for file in files:
        if not file.is_file():
            raise PoseforgeError(f"{file} is missing: the artifact {path} is incomplete")
    if len(files) == 1:
        return sha256_file(files[0])
    lines = "".join(f"{file.name}:{sha256_file(file)}\n" for file in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def artifact_size_mb(path: str | Path) -> float:
    return sum(p.stat().st_size for p in artifact_files(path)) / 1e6

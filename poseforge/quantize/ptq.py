"""FP32 IR -> INT8 IR with NNCF, read top to bottom like NNCF's own examples.

1. Read the FP32 IR and refuse anything else.
2. Build the calibration set: any folder of images, pre-processed as the deploy protocol.
3. `nncf.quantize`, or `nncf.quantize_with_accuracy_control` with the project's COCO AP as the
   validation function when a maximum AP drop is given.
4. Record the settings, the calibration set's size and sha256, the layers left in floating
   point and the heatmap peak retention in the IR's rt_info; write atomically.

Why the activation range estimator defaults to MINMAX: NNCF's default estimator averages
per-image minima and maxima. Most COCO images hold no person, so the later layers' ranges come
out too small and clip the heatmap peaks (26% lower here); output cosine stays high and hides
it, COCO AP drops from 0.464 to 0.395 with NNCF's defaults. MINMAX keeps the true extremes.

The other defaults were measured on coco-mini (val and deploy AP, throughput at 256x456): the
full bias correction beat the fast one under both protocols (+0.013 val, +0.008 deploy AP with
MINMAX; it alone also undoes most of the collapse above), keeping the two output convolutions
in floating point added AP under val at no measurable speed cost, and PERFORMANCE (symmetric
activations) matched MIXED.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file
from poseforge.ir_files import ir_metadata, read_ir
from poseforge.metadata import derive, set_ir_metadata
from poseforge.quantize.calibration import calibration_dataset, calibration_images, deploy_input, fingerprint
from poseforge.runtime.options import ACCURACY

PRESETS = ("performance", "mixed")
RANGE_ESTIMATORS = ("minmax", "nncf-default", "mean_minmax", "median_minmax", "mean_no_outliers_minmax")
SCOPE_KINDS = ("name", "pattern", "type")
PEAK_CHANNEL_MIN = 0.3  # heatmap channels whose FP32 peak is below this are noise, not people


@dataclass(frozen=True)
class QuantizeSettings:
    # Defaults measured on coco-mini (see the module docstring): each choice was compared
    # against its alternative for AP under both protocols and for throughput.
    preset: str = "performance"
    fast_bias_correction: bool = False
    range_estimator: str = "minmax"
    subset_size: int = 300
    ignored_scope: tuple[str, ...] = ()  # "name:X", "pattern:REGEX", "type:OpType"
    ignore_heads: bool = True  # keep the two output convolutions (0.6% of the compute) in floating point
    max_drop: float | None = None  # absolute COCO AP: accuracy control when set


def quantize_ir(
    source: str | Path,
    output: str | Path,
    calib_dir: str | Path,
    settings: QuantizeSettings = QuantizeSettings(),
    coco_dir: str | Path | None = None,
    validation_limit: int | None = None,
) -> dict[str, Any]:
    """Quantize the FP32 IR `source` into `output`; returns the quantization record."""
    import nncf
    import openvino as ov

    model = read_ir(source)
    meta = ir_metadata(model, source)
    if meta.get("precision") != "fp32":
        raise PoseforgeError(
            f"{source} is a {meta.get('precision', 'unknown')} IR ({meta.get('artifact', '?')}): "
            "quantize needs the FP32 IR"
        )
    check_choices(settings)
    input_name, deploy_shape = meta["input"]["name"], tuple(meta["input"]["deploy_shape"])
    paths = calibration_images(calib_dir, settings.subset_size)
    calibration = calibration_dataset(paths, input_name, deploy_shape)
    scope = ignored_scope(model, settings)
    common = {
        "preset": getattr(nncf.QuantizationPreset, settings.preset.upper()),
        "subset_size": len(paths),
        "fast_bias_correction": settings.fast_bias_correction,
        "ignored_scope": scope,
    }
    advanced = advanced_parameters(settings)
    accuracy: dict[str, Any] = {}
    if settings.max_drop is None:
        quantized = nncf.quantize(model, calibration, advanced_parameters=advanced, **common)
    else:
        if coco_dir is None:
            raise PoseforgeError("accuracy control (max drop) needs a COCO directory to measure AP on")
        quantized, accuracy = quantize_with_accuracy_control(
            model, calibration, meta, coco_dir, settings.max_drop, validation_limit, advanced, common
        )
    record = {
        "tool": f"nncf {nncf.__version__}",
        "settings": dataclasses.asdict(settings),
        "calibration": {
            "folder": str(Path(calib_dir).resolve()),
            "images": len(paths),
            "sha256": fingerprint(paths),
            "preprocessing": "deploy protocol (letterbox to the deploy shape)",
        },
        "float_layers": float_layers(quantized),
        "heatmap_peak_retention": peak_retention(model, quantized, meta, paths[:16], deploy_shape),
        **accuracy,
    }
    notes = list(meta.get("notes", []))
    if coco_dir and overlaps(calib_dir, coco_dir):
        notes.append(
            "calibration images overlap the validation images (both from "
            f"{Path(calib_dir).name}): the INT8 AP is optimistic; pass CALIB= a disjoint folder"
        )
    set_ir_metadata(quantized, derive(meta, artifact="ir-int8", precision="int8", quantization=record, notes=notes,
                                      parent={"file": Path(source).name, "sha256": sha256_file(source)}))  # fmt: skip
    with atomic_output(output, ".bin") as tmp:
        ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    return record


def check_choices(settings: QuantizeSettings) -> None:
    if settings.preset not in PRESETS:
        raise PoseforgeError(f"unknown preset {settings.preset!r}; choose from {', '.join(PRESETS)}")
    if settings.range_estimator not in RANGE_ESTIMATORS:
        raise PoseforgeError(
            f"unknown range estimator {settings.range_estimator!r}; choose from {', '.join(RANGE_ESTIMATORS)}"
        )
    if settings.subset_size < 1:
        raise PoseforgeError(f"subset size must be at least 1, got {settings.subset_size}")
    for entry in settings.ignored_scope:
        kind, _, value = entry.partition(":")
        if kind not in SCOPE_KINDS or not value:
            raise PoseforgeError(f"ignored scope {entry!r} is not KIND:VALUE with KIND one of {', '.join(SCOPE_KINDS)}")
    if settings.max_drop is not None and not 0 <= settings.max_drop < 1:
        raise PoseforgeError(f"max drop is an absolute AP drop in [0, 1), got {settings.max_drop}")


def advanced_parameters(settings: QuantizeSettings) -> Any:
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    if settings.range_estimator == "nncf-default":
        return AdvancedQuantizationParameters()
    estimator = getattr(RangeEstimatorParametersSet, settings.range_estimator.upper())
    return AdvancedQuantizationParameters(activations_range_estimator_params=estimator)


def head_convolutions(model: Any) -> list[str]:
    """Friendly names of the convolutions that produce the model's outputs (through their bias)."""
    names = []
    for result in model.get_results():
        node = result.input(0).get_source_output().get_node()
        while node.get_type_name() not in ("Convolution", "GroupConvolution"):
            node = node.input(0).get_source_output().get_node()
        names.append(node.get_friendly_name())
    return names


def ignored_scope(model: Any, settings: QuantizeSettings) -> Any:
    import nncf

    parts: dict[str, list[str]] = {kind: [] for kind in SCOPE_KINDS}
    for entry in settings.ignored_scope:
        kind, _, value = entry.partition(":")
        parts[kind].append(value)
    if settings.ignore_heads:
        parts["name"] += head_convolutions(model)
    if not any(parts.values()):
        return None
    return nncf.IgnoredScope(names=parts["name"], patterns=parts["pattern"], types=parts["type"])


def float_layers(model: Any) -> list[str]:
    """Convolutions whose input is not quantized: they run in floating point."""
    layers = []
    for node in model.get_ordered_ops():
        if node.get_type_name() in ("Convolution", "GroupConvolution"):
            source = node.input(0).get_source_output().get_node().get_type_name()
            if source != "FakeQuantize":
                layers.append(node.get_friendly_name().removesuffix("/WithoutBiases"))
    return layers


def peak_retention(
    fp32: Any, int8: Any, meta: dict[str, Any], paths: list[Path], deploy_shape: tuple[int, int]
) -> float:
    """Mean ratio INT8 / FP32 of the heatmap peaks (channels with a real peak) on calibration images.

    The collapse NNCF's default settings cause shows here (peaks about 15% low) while output
    cosine stays near 1; a healthy INT8 model keeps this near 1.
    """
    from poseforge.runtime.openvino_runner import OpenVINORunner

    runners = [OpenVINORunner.from_model(m, meta, ACCURACY.replace(shape=(1, 3, *deploy_shape))) for m in (fp32, int8)]
    ratios = []
    for path in paths:
        data = deploy_input(path, deploy_shape)
        reference, quantized = (runner.run(data)[0][0, :-1].max(axis=(1, 2)) for runner in runners)
        keep = reference > PEAK_CHANNEL_MIN
        ratios.extend(quantized[keep] / reference[keep])
    return float(np.mean(ratios)) if ratios else float("nan")


def overlaps(calib_dir: str | Path, coco_dir: str | Path) -> bool:
    """True if calibration images are among the COCO validation images (same folder or same files)."""
    calib = Path(calib_dir).resolve()
    val = (Path(coco_dir) / "val2017").resolve()
    if calib == val:
        return True
    names = {p.name for p in val.iterdir()} if val.is_dir() else set()
    return any(p.name in names for p in calib.iterdir())


def quantize_with_accuracy_control(
    model: Any,
    calibration: Any,
    meta: dict[str, Any],
    coco_dir: str | Path,
    max_drop: float,
    limit: int | None,
    advanced: Any,
    common: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """NNCF's accuracy-controlled quantization with COCO AP (val protocol, shared decoder) as the
    metric; refuses a result that does not meet `max_drop`, saying what NNCF reached."""
    import nncf

    from poseforge.runtime.openvino_runner import OpenVINORunner
    from poseforge.validate.accuracy.dataset import CocoKeypoints
    from poseforge.validate.accuracy.validate import coco_ap

    dataset = CocoKeypoints(coco_dir)
    images = dataset.images(limit)

    def validate(compiled: Any, items: Any) -> float:
        return coco_ap(OpenVINORunner(compiled, meta, ACCURACY, source="NNCF's candidate"), dataset, list(items))["ap"]

    quantized = nncf.quantize_with_accuracy_control(
        model, calibration, nncf.Dataset(images), validate, max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
        advanced_quantization_parameters=advanced, **common,
    )  # fmt: skip
    reference = coco_ap(OpenVINORunner.from_model(model, meta, ACCURACY), dataset, images)["ap"]
    reached = coco_ap(OpenVINORunner.from_model(quantized, meta, ACCURACY), dataset, images)["ap"]
    if reference - reached > max_drop:
        raise PoseforgeError(
            f"accuracy target not met: NNCF's best INT8 model has AP {reached:.4f} against FP32 {reference:.4f} "
            f"(drop {reference - reached:.4f} > max drop {max_drop}); nothing written"
        )
    return quantized, {"accuracy_control": {"max_drop": max_drop, "fp32_ap": reference, "int8_ap": reached,
                                            "validation_images": len(images), "protocol": "val"}}  # fmt: skip

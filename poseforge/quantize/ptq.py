"""FP32 IR -> INT8 IR with NNCF, read top to bottom like NNCF's own examples.

1. Read the FP32 IR and refuse anything else; refuse a calibration folder that shares images
   with the validation set (unless told to allow it, which is then noted in the IR).
2. Choose the calibration images from any folder of images (by default, label-free, those on
   which the FP32 network itself finds the most people) and pre-process them as the deploy
   protocol.
3. `nncf.quantize`, or `nncf.quantize_with_accuracy_control` when a maximum drop is given, with
   a metric that needs no labels and never sees the validation set: the OKS-AP of the INT8
   network's poses against the FP32 network's own poses on the calibration images.
4. Record the settings, exactly what calibrated (folder, images considered and used, the
   selection rule, the images' sha256), the layers left in floating point and the heatmap peak
   retention in the IR's rt_info; write atomically.

Why the activation range estimator is MINMAX: NNCF's default estimator (and the other
estimators that average per-image extremes or quantiles) clips the heatmap peaks: most COCO
images hold no person, so the later layers' ranges come out too small. Output cosine stays high
and hides it; the heatmap peak retention recorded here shows it. MINMAX keeps the true extremes.

How the other defaults were chosen: each setting was compared with its alternatives on the
honest protocol (calibrated on COCO train2017 images, scored on val2017 images); the tables are in
the project's INT8 notes. On 266 people no two settings differ beyond their paired interval, so
speed on every ISA tier decided, with the reasons below:
- calibrate on images with people, chosen label-free by the FP32 network: person-free images
  set ranges and bias corrections by backgrounds;
- the PERFORMANCE preset (symmetric activations, as Intel's release): MIXED's asymmetric
  activations put zero points on the CPM block's ELU outputs and on the concat feeding the
  refinement stage, and OpenVINO runs the layers reading them with slower kernels (depthwise
  convolutions on jit_avx512 instead of brgconv, 1x1s on jit instead of brgconv with AMX); a
  symmetric range wastes up to half of 8 bits on the ELUs (never below -1), which costs no AP
  the set can resolve;
- every convolution quantized, the two output convolutions included: in floating point they
  ran f32 kernels beside AMX's INT8 ones for no AP the set can resolve (`ignore_heads` keeps them);
- the full bias correction. Keeping the refinement stage's concat-fed 1x1 in floating point too
  (`ignore_concat`) is the option to try when a calibration set loses the initial stage's heatmaps.
A ReLU-fed quantizer is kept unsigned whatever the preset (`unsigned_after_relu`).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.artifacts import artifact_digest
from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output
from poseforge.images import files_sha256, image_files, shared_images
from poseforge.ir_files import ir_metadata, ir_output, read_ir, save_ir
from poseforge.metadata import derive, set_ir_metadata
from poseforge.quantize.calibration import (
    CalibrationSet,
    calibration_dataset,
    deploy_input,
    select_calibration,
)
from poseforge.quantize.settings import SCOPE_KINDS, QuantizeSettings, check_choices
from poseforge.runtime.openvino_runner import OpenVINORunner
from poseforge.runtime.options import ACCURACY
from poseforge.text import first_few
from poseforge.validate.accuracy.agreement import MIN_REFERENCE_SCORE, RULE, disjoint_images, folder_images

PEAK_CHANNEL_MIN = 0.3  # heatmap channels whose FP32 peak is below this are noise, not people
PEAK_IMAGES = 16  # calibration images the peak retention is measured on
AGREEMENT_PROTOCOL = "val"  # the protocol the accuracy-control metric runs the networks under
RANKING_SUBSET = 32  # accuracy control: images each layer's contribution to the drop is ranked on


@dataclass(frozen=True)
class AgreementImages:
    """The images accuracy control measures the agreement with FP32 on."""

    paths: list[Path]
    folder: Path
    held_out: bool  # True: none of them calibrated
    left_out: int  # images of the folder left out because they calibrated


def quantize_ir(
    source: str | Path,
    output: str | Path,
    calib_dir: str | Path,
    settings: QuantizeSettings | None = None,
    coco_dir: str | Path | None = None,
    validation_limit: int | None = None,
    allow_overlap: bool = False,
    agreement_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Quantize the FP32 IR `source` into `output`; returns the quantization record.

    `coco_dir` is the validation set the INT8 model will be scored on: a calibration folder
    sharing images with it is refused unless `allow_overlap`. Accuracy control measures the
    agreement with FP32 on `agreement_dir`'s images that did not calibrate (held out; the
    calibration folder itself gives the images it holds beyond those used), else on the
    calibration images; `validation_limit` caps how many.
    """
    import nncf

    settings = settings or QuantizeSettings()
    ir_output(output)
    model, meta = read_fp32(source)
    check_choices(settings)
    check_scope(model, settings)
    if agreement_dir is not None and settings.max_drop is None:
        raise PoseforgeError("agreement images are for accuracy control: give a max drop (--max-drop) with them")
    overlap = bool(coco_dir) and overlaps(calib_dir, coco_dir)
    if overlap and not allow_overlap:
        raise PoseforgeError(
            f"calibration folder {calib_dir} shares images with the validation images of {coco_dir}: "
            "calibrate on a disjoint folder (e.g. coco-calib/train2017), or pass --allow-overlap"
        )
    if agreement_dir is not None and coco_dir and overlaps(agreement_dir, coco_dir):
        raise PoseforgeError(
            f"agreement image folder {agreement_dir} shares images with the validation images of {coco_dir}: "
            "accuracy control must not see the images the model is scored on"
        )
    deploy_shape = tuple(meta["input"]["deploy_shape"])
    fp32 = _deploy_runner(model, meta, deploy_shape) if settings.select == "people" else None
    calib = select_calibration(calib_dir, settings.subset_size, settings.select, fp32, settings.candidates)
    judged = agreement_images(calib, agreement_dir, validation_limit)
    quantized, accuracy = run_nncf(model, meta, calib, settings, judged)
    unsigned = unsigned_after_relu(quantized)
    record = {
        "tool": f"nncf {nncf.__version__}",
        "settings": dataclasses.asdict(settings),
        "calibration": calib.record(),
        "float_layers": float_layers(quantized),
        "unsigned_after_relu": unsigned,
        "heatmap_peak_retention": peak_retention(model, quantized, meta, calib.paths[:PEAK_IMAGES], deploy_shape),
        **accuracy,
    }
    notes = list(meta.get("notes", []))
    if overlap:
        record["calibration"]["overlaps_validation"] = str(Path(coco_dir).resolve())
        notes.append(
            f"calibration images ({Path(calib_dir).name}) overlap the validation images of {Path(coco_dir).name} "
            "(allowed with --allow-overlap): the INT8 AP there is optimistic; calibrate on a disjoint folder"
        )
    parent = {"file": Path(source).name, "sha256": artifact_digest(source)}
    set_ir_metadata(quantized, derive(meta, artifact="ir-int8", precision="int8", quantization=record, notes=notes,
                                      parent=parent))  # fmt: skip
    with atomic_output(output, ".bin") as tmp:
        save_ir(quantized, tmp)
    return record


def read_fp32(source: str | Path) -> tuple[Any, dict[str, Any]]:
    """The FP32 IR and its metadata; anything else is refused."""
    model = read_ir(source)
    meta = ir_metadata(model, source)
    if meta.get("precision") != "fp32":
        raise PoseforgeError(
            f"{source} is a {meta.get('precision', 'unknown')} IR ({meta.get('artifact', '?')}): "
            "quantize needs the FP32 IR"
        )
    return model, meta


def agreement_images(calib: CalibrationSet, folder: str | Path | None, limit: int | None) -> AgreementImages:
    """The images accuracy control measures the agreement on: `folder`'s images that did not
    calibrate (by name or content), else the calibration images; the first `limit`."""
    if folder is None:
        return AgreementImages(calib.paths[:limit] if limit else calib.paths, calib.folder, False, 0)
    kept, left_out = disjoint_images(folder, calib.paths)
    if not kept:
        raise PoseforgeError(f"agreement image folder {folder} holds no image that did not calibrate "
                             f"({len(left_out)} left out): accuracy control needs held-out images")  # fmt: skip
    return AgreementImages(kept[:limit] if limit else kept, Path(folder), True, len(left_out))


def run_nncf(
    model: Any, meta: dict[str, Any], calib: CalibrationSet, settings: QuantizeSettings, judged: AgreementImages
) -> tuple[Any, dict[str, Any]]:
    """nncf.quantize (or its accuracy-controlled form) on the calibration images, pre-processed as
    the deploy protocol; returns the quantized model and the accuracy-control record (if any)."""
    import nncf

    calibration = calibration_dataset(calib.paths, meta["input"]["name"], tuple(meta["input"]["deploy_shape"]))
    common = {
        "preset": getattr(nncf.QuantizationPreset, settings.preset.upper()),
        "subset_size": len(calib.paths),
        "fast_bias_correction": settings.fast_bias_correction,
        "ignored_scope": ignored_scope(model, settings),
    }
    advanced = advanced_parameters(settings)
    if settings.max_drop is None:
        return nncf.quantize(model, calibration, advanced_parameters=advanced, **common), {}
    return quantize_with_accuracy_control(model, calibration, meta, judged, settings.max_drop, advanced, common)


def _deploy_runner(model: Any, meta: dict[str, Any], deploy_shape: tuple[int, int]) -> OpenVINORunner:
    """`model` compiled for one deploy-shaped image, with the accuracy options (precision hint f32)."""
    return OpenVINORunner.from_model(model, meta, ACCURACY.replace(shape=(1, 3, *deploy_shape)))


def advanced_parameters(settings: QuantizeSettings) -> Any:
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    if settings.range_estimator == "nncf-default":
        return AdvancedQuantizationParameters()
    estimator = getattr(RangeEstimatorParametersSet, settings.range_estimator.upper())
    return AdvancedQuantizationParameters(activations_range_estimator_params=estimator)


def _convolution_above(node: Any) -> Any:
    while node.get_type_name() not in ("Convolution", "GroupConvolution"):
        node = node.input(0).get_source_output().get_node()
    return node


def head_convolutions(model: Any) -> list[str]:
    """Friendly names of the convolutions that produce the model's outputs (through their bias)."""
    return [
        _convolution_above(r.input(0).get_source_output().get_node()).get_friendly_name() for r in model.get_results()
    ]


def concat_convolutions(model: Any) -> list[str]:
    """Friendly names of the convolutions fed by a Concat: in this network the refinement stage's
    1x1 over [pafs, heatmaps, features], whose input quantizer would share one scale."""
    return [
        node.get_friendly_name()
        for node in model.get_ordered_ops()
        if node.get_type_name() in ("Convolution", "GroupConvolution")
        and node.input(0).get_source_output().get_node().get_type_name() == "Concat"
    ]


def check_scope(model: Any, settings: QuantizeSettings) -> None:
    """Refuse an --ignored-scope entry that matches no node of `model`, before the calibration work:
    NNCF refuses it only after, in its own words. Nodes as NNCF sees an OpenVINO model: named by
    their friendly name, typed by their op type; a pattern matches a name from its start (re.match)."""
    ops = model.get_ordered_ops()
    names = [op.get_friendly_name() for op in ops]
    layers = [op.get_friendly_name() for op in ops if op.get_type_name() not in ("Constant", "Parameter", "Result")]
    types = sorted({op.get_type_name() for op in ops})
    for entry in settings.ignored_scope:
        kind, _, value = entry.partition(":")
        if kind == "type" and value not in types:
            raise PoseforgeError(f"ignored scope {entry!r}: no node of the model is of type {value} (its types: "
                                 f"{', '.join(types)})")  # fmt: skip
        if kind == "name" and value not in names:
            near = difflib.get_close_matches(value, names, n=3)
            hint = f"nearest names: {', '.join(near)}" if near else f"names such as {first_few(layers)}"
            raise PoseforgeError(f"ignored scope {entry!r}: no node of the model is named so ({hint})")
        if kind == "pattern" and not any(re.match(value, name) for name in names):
            raise PoseforgeError(f"ignored scope {entry!r}: the pattern matches no node name from its start "
                                 f"(names such as {first_few(layers)})")  # fmt: skip


def ignored_scope(model: Any, settings: QuantizeSettings) -> Any:
    import nncf

    parts: dict[str, list[str]] = {kind: [] for kind in SCOPE_KINDS}
    for entry in settings.ignored_scope:
        kind, _, value = entry.partition(":")
        parts[kind].append(value)
    if settings.ignore_heads:
        parts["name"] += head_convolutions(model)
    if settings.ignore_concat:
        parts["name"] += concat_convolutions(model)
    if not any(parts.values()):
        return None
    parts["name"] = list(dict.fromkeys(parts["name"]))
    return nncf.IgnoredScope(names=parts["name"], patterns=parts["pattern"], types=parts["type"])


def float_layers(model: Any) -> list[str]:
    """Convolutions whose input is not quantized: they run in floating point. A Concat of
    quantized inputs (NNCF quantizes a concat's inputs, not its output) counts as quantized."""
    layers = []
    for node in model.get_ordered_ops():
        if node.get_type_name() in ("Convolution", "GroupConvolution"):
            source = node.input(0).get_source_output().get_node()
            inputs = [i.get_source_output().get_node() for i in source.inputs()] if _is(source, "Concat") else [source]
            if not all(_is(i, "FakeQuantize") for i in inputs):
                layers.append(node.get_friendly_name().removesuffix("/WithoutBiases"))
    return layers


NON_NEGATIVE = ("Relu",)  # ops whose every output is >= 0


def unsigned_after_relu(model: Any) -> list[str]:
    """Give every activation FakeQuantize fed by a ReLU a low of exactly 0; the names changed.

    NNCF's asymmetric ranges widen a channel that never fired in calibration (a zero range) to
    [-8e-4, 8e-4]. One negative low makes OpenVINO quantize the whole tensor with zero points,
    and the layers reading it drop to slower kernels (a depthwise convolution runs jit_avx512
    instead of brgconv on AVX-512 and AMX). A ReLU never outputs below 0, so a low of 0 quantizes
    every value it can give exactly as before, and keeps the tensor unsigned."""
    from openvino import opset13

    changed = []
    for node in model.get_ordered_ops():
        if not _is(node, "FakeQuantize") or node.input_value(0).get_node().get_type_name() not in NON_NEGATIVE:
            continue
        lows = [node.input_value(i).get_node() for i in (1, 3)]  # input_low, output_low
        if not all(_is(low, "Constant") for low in lows) or all((low.get_data() >= 0).all() for low in lows):
            continue
        for index, low in zip((1, 3), lows, strict=True):
            data = low.get_data()
            node.input(index).replace_source_output(opset13.constant(np.maximum(data, 0).astype(data.dtype)).output(0))
        changed.append(node.get_friendly_name())
    return changed


def _is(node: Any, kind: str) -> bool:
    return node.get_type_name() == kind


def peak_retention(
    fp32: Any, int8: Any, meta: dict[str, Any], paths: list[Path], deploy_shape: tuple[int, int]
) -> float | None:
    """Mean ratio INT8 / FP32 of the heatmap peaks (channels with a real peak) on calibration
    images; None when the FP32 network finds no peak on them (person-free images).

    The collapse NNCF's default settings cause shows here (the peaks come out low) while output
    cosine stays near 1; a healthy INT8 model keeps this near 1.
    """
    runners = [_deploy_runner(m, meta, deploy_shape) for m in (fp32, int8)]
    ratios = []
    for path in paths:
        data = deploy_input(path, deploy_shape)
        reference, quantized = (runner.run(data)[0][0, :-1].max(axis=(1, 2)) for runner in runners)
        keep = reference > PEAK_CHANNEL_MIN
        ratios.extend(quantized[keep] / reference[keep])
    return float(np.mean(ratios)) if ratios else None


def overlaps(calib_dir: str | Path, coco_dir: str | Path) -> bool:
    """True if calibration images are among the COCO validation images: the same folder, the same
    file names, or the same files under other names (same size and sha256)."""
    calib = Path(calib_dir).resolve()
    val = (Path(coco_dir) / "val2017").resolve()
    if calib == val:
        return True
    if not val.is_dir() or not calib.is_dir():
        return False
    return bool(shared_images(image_files(calib), image_files(val)))


def quantize_with_accuracy_control(
    model: Any,
    calibration: Any,
    meta: dict[str, Any],
    judged: AgreementImages,
    max_drop: float,
    advanced: Any,
    common: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """NNCF's accuracy-controlled quantization with a label-free metric: the agreement of the INT8
    network's poses with the FP32 network's own poses (validate.accuracy.agreement) on `judged`'s
    images (the validation set is never used). Refuses a result that does not meet `max_drop`,
    saying what NNCF reached."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    from poseforge.quantize.agreement import agreement, pseudo_labels

    images = folder_images(judged.paths)
    labels = pseudo_labels(OpenVINORunner.from_model(model, meta, ACCURACY), images, AGREEMENT_PROTOCOL)
    people = labels.reference().people
    if people == 0:
        raise PoseforgeError(
            f"the FP32 network finds no person it scores at least {MIN_REFERENCE_SCORE:g} on the {len(images)} "
            f"agreement images of {judged.folder}: accuracy control has nothing to measure (use images of people)"
        )

    def validate(compiled: Any, items: Any) -> float:
        return agreement(OpenVINORunner(compiled, meta, ACCURACY), labels, list(items))

    restorer = AdvancedAccuracyRestorerParameters(ranking_subset_size=min(RANKING_SUBSET, len(images)))
    quantized = nncf.quantize_with_accuracy_control(
        model, calibration, nncf.Dataset(images), validate, max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
        advanced_quantization_parameters=advanced, advanced_accuracy_restorer_parameters=restorer, **common,
    )  # fmt: skip
    reached = agreement(OpenVINORunner.from_model(quantized, meta, ACCURACY), labels)
    if 1.0 - reached > max_drop:
        raise PoseforgeError(
            f"accuracy target not met: NNCF's best INT8 model agrees with FP32 at OKS-AP {reached:.4f} "
            f"(drop {1.0 - reached:.4f} > max drop {max_drop}); nothing written"
        )
    where = "held-out images (none calibrated)" if judged.held_out else "calibration images"
    return quantized, {"accuracy_control": {
        "metric": f"agreement of the INT8 poses with the FP32 poses on {where}: {RULE}",
        "max_drop": max_drop, "fp32_agreement": 1.0, "int8_agreement": reached, "images": len(images),
        "people": people, "protocol": AGREEMENT_PROTOCOL, "folder": str(judged.folder.resolve()),
        "held_out": judged.held_out, "left_out": judged.left_out, "files": [p.name for p in judged.paths],
        "sha256": files_sha256(judged.paths),
    }}  # fmt: skip

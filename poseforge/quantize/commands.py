"""The `quantize` command: quantize_ir plus a summary of what was done."""

from __future__ import annotations

from pathlib import Path

from poseforge.quantize.ptq import quantize_ir
from poseforge.quantize.settings import QuantizeSettings
from poseforge.text import plural


def quantize_command(
    source: str | Path,
    output: str | Path,
    calib: str | Path,
    settings: QuantizeSettings,
    coco: str | Path | None = None,
    validation_limit: int | None = None,
    allow_overlap: bool = False,
    agreement_images: str | Path | None = None,
) -> dict:
    record = quantize_ir(source, output, calib, settings, coco, validation_limit, allow_overlap, agreement_images)
    s = record["settings"]
    c = record["calibration"]
    floats = record["float_layers"]
    in_float = f"{plural(len(floats), 'layer')} in floating point" + (": " + ", ".join(floats) if floats else "")
    chosen = (
        f"{c['images']} of {plural(c['images_considered'], 'image')} chosen by the FP32 network's own detections "
        f"({plural(c['people_detected'], 'person', 'people')})" if c["selection"] == "people"
        else f"the first {plural(c['images'], 'image')} by name"
    )  # fmt: skip
    kept = record["heatmap_peak_retention"]
    peaks = (
        f"heatmap peaks kept {kept:.1%}" if kept is not None
        else "no heatmap peak on the calibration images to check INT8 peaks against: calibrate on images with people"
    )  # fmt: skip
    print(
        f"wrote {output}: INT8, preset {s['preset']}, {'fast' if s['fast_bias_correction'] else 'full'} bias "
        f"correction, {s['range_estimator']} ranges; calibrated on {chosen} of {c['folder']} (sha256 "
        f"{c['sha256'][:12]}); {in_float}; " + peaks
    )
    if "accuracy_control" in record:
        a = record["accuracy_control"]
        where = f"held-out image of {a['folder']}" if a["held_out"] else "calibration image"
        print(
            f"accuracy control: the INT8 poses agree with the FP32 poses at {a['int8_agreement']:.4f} on "
            f"{plural(a['images'], where)} ({a['people']} reference people; max drop {a['max_drop']})"
        )
    if "overlaps_validation" in c:
        print(f"note: the calibration images overlap the validation images of {c['overlaps_validation']}")
    return record

"""The `quantize` command: quantize_ir plus a summary of what was done."""

from __future__ import annotations

from pathlib import Path

from poseforge.quantize.ptq import QuantizeSettings, quantize_ir


def quantize_command(
    source: str | Path,
    output: str | Path,
    calib: str | Path,
    settings: QuantizeSettings,
    coco: str | Path | None = None,
    validation_limit: int | None = None,
) -> dict:
    record = quantize_ir(source, output, calib, settings, coco, validation_limit)
    s = record["settings"]
    floats = record["float_layers"]
    print(
        f"wrote {output}: INT8, preset {s['preset']}, {'fast' if s['fast_bias_correction'] else 'full'} bias "
        f"correction, {s['range_estimator']} ranges, {record['calibration']['images']} calibration images; "
        f"{len(floats)} layer(s) in floating point{': ' + ', '.join(floats) if floats else ''}; "
        f"heatmap peaks kept {record['heatmap_peak_retention']:.1%}"
    )
    if "accuracy_control" in record:
        a = record["accuracy_control"]
        print(f"accuracy control: AP {a['int8_ap']:.4f} against FP32 {a['fp32_ap']:.4f} (max drop {a['max_drop']})")
    return record

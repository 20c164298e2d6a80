"""The precision hint a bundle should run at on this machine: `precision_hint="auto"`.

OpenVINO runs an FP32 network in bf16 where the CPU has AVX-512 BF16 or AMX, several times faster
than f32 and usually as accurate; elsewhere bf16 is emulated and slower. Whether it is as accurate
is a measured fact about the (network, machine class) pair, so a bundle records, per machine class
and precision hint, the AP and speed its IR was validated at. "auto" picks the fastest hint whose
validated val AP is within the gate's tolerance of the same IR's f32 AP on this class; f32 where
the bundle has no figures for this class (nothing measured, nothing assumed). An INT8 network
keeps f32 (its quantized layers run in INT8 either way; the hint only moves its few float ones).
"""

from __future__ import annotations

from typing import Any

from poseforge.artifacts import INT8_AP_TOLERANCE

AUTO = "auto"
REFERENCE_HINT = "f32"
# A run under another hint is judged as the gate judges a variant row: the INT8 tolerance.
TOLERANCE = INT8_AP_TOLERANCE


def resolve_hint(requested: str | None, manifest: dict[str, Any], device: str) -> dict[str, Any]:
    """{"requested", "hint", "why"}: the precision hint a bundle runs at. "auto" chooses from what
    the bundle measured on this machine class (CPU only: other devices keep their own default)."""
    from poseforge.bundle.manifest import validated
    from poseforge.machine import machine_info

    if requested != AUTO:
        return {"requested": requested, "hint": requested, "why": "asked for" if requested else "the device's own"}
    if device != "CPU":
        return {"requested": AUTO, "hint": None,
                "why": f"{device}'s own default: the bundle's figures were measured on CPUs"}  # fmt: skip
    hint, why = choose_hint(validated(manifest), str(machine_info()["class"]), manifest["precision"])
    return {"requested": AUTO, "hint": hint, "why": why}


def choose_hint(validated: dict[str, dict[str, Any]], machine_class: str, precision: str) -> tuple[str, str]:
    """(hint, why) for a bundle of `precision` whose `validated` figures are
    {machine class: {hint: {"ap": val AP, "throughput_fps": fps}}}."""
    if precision == "int8":
        return REFERENCE_HINT, "an INT8 network keeps f32 (its quantized layers run in INT8 under any hint)"
    here = validated.get(machine_class)
    if not here or REFERENCE_HINT not in here:
        known = ", ".join(sorted(validated)) or "none"
        return REFERENCE_HINT, (f"the bundle has no validated figures for {machine_class} (it has: {known}): f32, "
                                "the hint every figure is comparable with")  # fmt: skip
    reference = here[REFERENCE_HINT]
    best, why = REFERENCE_HINT, f"f32: validated at val AP {reference['ap']:.4f} on {machine_class}"
    for hint, figures in sorted(here.items()):
        if hint == REFERENCE_HINT:
            continue
        loss = reference["ap"] - figures["ap"]
        if loss > TOLERANCE:
            why += f"; {hint} refused: val AP {figures['ap']:.4f}, {loss:.4f} below f32 (tolerance {TOLERANCE})"
            continue
        if figures["throughput_fps"] > here[best]["throughput_fps"]:
            speedup = figures["throughput_fps"] / reference["throughput_fps"]
            best = hint
            why = (f"{hint}: {speedup:.1f}x f32's throughput on {machine_class}, val AP {figures['ap']:.4f} against "
                   f"f32's {reference['ap']:.4f} (within {TOLERANCE})")  # fmt: skip
    return best, why

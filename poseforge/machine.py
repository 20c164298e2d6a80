"""What a measurement ran on: CPU model, cores and the ISA extensions that decide speed."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The flags that change which kernels OpenVINO and onnxruntime pick.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_int8", "amx_bf16")  # fmt: skip


def machine_info() -> dict[str, object]:
    cpu, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "system": f"{platform.system()} {platform.release()}",
    }


def openvino_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin can run natively here (FP32, INT8, BF16, FP16, ...)."""
    import openvino as ov

    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def supports_precision(hint: str) -> bool:
    """True if OpenVINO runs this precision hint natively on this CPU (bf16 needs AVX-512 BF16 or AMX)."""
    return hint.upper() in openvino_capabilities()

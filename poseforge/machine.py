"""What a measurement ran on: the machine class (ISA tier + cores), defined once.

    info = machine_info()            # {"cpu", "cores", "isa", "system", "class", "tier", ...}
    info["class"]                    # "x86-amx-2c": the tier OpenVINO's kernels use, and the core count

Speed, and the numerics of INT8 and bf16 kernels, are facts about an (artifact, machine class)
pair, not about the artifact alone: every report, speed file, bench, baseline section and bundle
records the class it was measured on. The tier is named from the ISA extensions that decide
which kernels OpenVINO's CPU plugin picks (AMX tiles, AVX-512 VNNI, AVX2, ...).

`ONEDNN_MAX_CPU_ISA` caps oneDNN's kernels (OpenVINO's own JIT kernels keep the full ISA), so a
capped run stands in for a lower tier without being one: its tier is the capped one and its
class says `emulated` (`x86-avx2-2c-emulated`), never the class of a real machine of that tier.
`tier_environment(tier)` is the environment a subprocess gets to stand in for `tier`.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

# The flags that change which kernels OpenVINO and onnxruntime pick (recorded with every figure).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "sve", "bf16", "i8mm")  # fmt: skip
ISA_CAP_VARIABLE = "ONEDNN_MAX_CPU_ISA"


@dataclass(frozen=True)
class Tier:
    """An x86 ISA tier as OpenVINO's kernels see it, best last in TIERS."""

    name: str
    needs: frozenset[str]  # /proc/cpuinfo flags a CPU must have
    cap: str  # the ONEDNN_MAX_CPU_ISA value that makes a better CPU stand in for it
    bf16: bool = False  # bf16 runs natively (AVX-512 BF16 or AMX), not emulated


def _tier(name: str, needs: str, cap: str, bf16: bool = False) -> Tier:
    return Tier(name, frozenset(needs.split()), cap, bf16)


# In order: a CPU's tier is the last one whose flags it has all of.
TIERS: tuple[Tier, ...] = (
    _tier("x86-avx2", "avx2 fma", "AVX2"),
    _tier("x86-avx2-vnni", "avx2 fma avx_vnni", "AVX2_VNNI"),
    _tier("x86-avx512", "avx2 fma avx512f avx512bw", "AVX512_CORE"),
    _tier("x86-avx512-vnni", "avx2 fma avx512f avx512bw avx512_vnni", "AVX512_CORE_VNNI"),
    _tier("x86-avx512-bf16", "avx2 fma avx512f avx512bw avx512_vnni avx512_bf16", "AVX512_CORE_BF16", bf16=True),
    _tier("x86-amx", "avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16",
          "AVX512_CORE_AMX", bf16=True),
)  # fmt: skip
BY_TIER = {t.name: t for t in TIERS}
# The tiers `poseforge bench --tiers` measures where the CPU can stand in for them (the kinds of
# machine users deploy to), best last.
BENCH_TIERS = ("x86-avx2", "x86-avx512-vnni", "x86-amx")
# Every ONEDNN_MAX_CPU_ISA value oneDNN knows, lowest first: a cap runs the tiers whose cap is not
# above it (SSE41 and AVX: none of them; AVX512_CORE_FP16: the BF16 tier's kernels, not AMX's).
_CAP_ORDER = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
              "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16")  # fmt: skip
# Their AVX10-era spellings.
_CAP_ALIASES = {"AVX10_1_512": "AVX512_CORE_FP16", "AVX10_1_512_AMX": "AVX512_CORE_AMX",
                "AVX10_1_512_AMX_FP16": "AVX512_CORE_AMX_FP16"}  # fmt: skip


def cpu_flags(cpuinfo: str | None = None) -> tuple[str, set[str]]:
    """The CPU's model name and ISA flags (x86 `flags`, ARM `Features`) from /proc/cpuinfo's text."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.is_file() else ""
    cpu, flags = platform.processor() or platform.machine(), set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and value.strip():
            cpu = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return cpu, flags


def tiers_of(flags: set[str], cap: str | None = None) -> list[Tier]:
    """The x86 tiers a CPU with these flags can run, worst first, under `ONEDNN_MAX_CPU_ISA=cap`."""
    runnable = [t for t in TIERS if t.needs <= flags]
    if cap:
        cap = _CAP_ALIASES.get(cap.strip().upper(), cap.strip().upper())
        if cap in _CAP_ORDER:  # any other value (ALL, DEFAULT, a misspelling) caps nothing
            runnable = [t for t in runnable if _CAP_ORDER.index(t.cap) <= _CAP_ORDER.index(cap)]
    return runnable


def native_tier(flags: set[str], arch: str | None = None, cap: str | None = None) -> str:
    """The tier a CPU with these flags runs at (under `cap`), named plainly where it is not x86."""
    arch = (arch or platform.machine()).lower()
    if arch in ("x86_64", "amd64", "i686", "x86"):
        tiers = tiers_of(flags, cap)
        return tiers[-1].name if tiers else "x86-sse"
    if arch in ("aarch64", "arm64"):
        return "arm64-sve" if "sve" in flags else "arm64-neon"
    return re.sub(r"[^a-z0-9]+", "-", arch).strip("-")[:40] or "unknown"


def class_name(tier: str, cores: int | None, emulated: bool = False) -> str:
    return f"{tier}-{cores or 1}c" + ("-emulated" if emulated else "")


def machine_info(cpuinfo: str | None = None, environ: dict[str, str] | None = None,
                 arch: str | None = None, cores: int | None = None) -> dict[str, object]:  # fmt: skip
    """What a measurement ran on. The arguments stand in for this machine (tests mock a CPU)."""
    environ = os.environ if environ is None else environ
    cpu, flags = cpu_flags(cpuinfo)
    cores = cores if cores is not None else usable_cores()
    native = native_tier(flags, arch)
    cap = environ.get(ISA_CAP_VARIABLE) or None
    tier = native_tier(flags, arch, cap)
    info: dict[str, object] = {
        "cpu": cpu,
        "cores": cores,
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "system": f"{platform.system()} {platform.release()}",
        "class": class_name(tier, cores, emulated=tier != native),
        "tier": tier,
    }
    if tier != native:
        info.update(native_tier=native, isa_cap=cap[:40])
    return info


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def runs_bf16_natively(info: dict[str, object] | None = None) -> bool:
    """True where bf16 kernels are native on the tier in use (AVX-512 BF16 or AMX): elsewhere
    OpenVINO emulates them, slower than f32."""
    tier = (info or machine_info())["tier"]
    return tier in BY_TIER and BY_TIER[str(tier)].bf16


def standin_tiers(cpuinfo: str | None = None) -> list[str]:
    """The BENCH_TIERS this CPU can stand in for (its own tier among them, when x86), worst first."""
    flags = cpu_flags(cpuinfo)[1]
    own = native_tier(flags)
    runnable = {t.name for t in tiers_of(flags)}
    return [t for t in BENCH_TIERS if t in runnable] + ([own] if own not in BENCH_TIERS else [])


def tier_environment(tier: str, environ: dict[str, str] | None = None, cpuinfo: str | None = None) -> dict[str, str]:
    """The environment a subprocess runs in to stand in for `tier` on this CPU: oneDNN's kernels
    capped to it (no cap for the CPU's own tier)."""
    env = dict(os.environ if environ is None else environ)
    env.pop(ISA_CAP_VARIABLE, None)
    return {**env, **tier_cap(tier, cpuinfo)}


def tier_cap(tier: str, cpuinfo: str | None = None) -> dict[str, str]:
    """The variables that make this CPU stand in for `tier`: none for its own tier, else oneDNN's cap."""
    flags = cpu_flags(cpuinfo)[1]
    own = native_tier(flags)
    if tier == own:
        return {}
    if tier not in BY_TIER or tier not in {t.name for t in tiers_of(flags)}:
        raise ValueError(f"this {own} CPU cannot stand in for {tier}: it lacks its instructions")
    return {ISA_CAP_VARIABLE: BY_TIER[tier].cap}


def tier_of_class(machine_class: str) -> str:
    """The tier a class name (class_name's form: TIER-Nc[-emulated]) is of."""
    match = re.fullmatch(r"(.+)-\d+c(-emulated)?", machine_class)
    if match is None:
        raise ValueError(f"{machine_class!r} is not a machine class (TIER-Nc, e.g. x86-amx-2c)")
    return match.group(1)


def openvino_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin reports it can run (FP32, INT8, BF16, FP16, ...). It reads the
    CPU's flags, not the oneDNN cap: use `runs_bf16_natively` for what the kernels in use do."""
    import openvino as ov

    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def supports_precision(hint: str) -> bool:
    """True if OpenVINO runs this precision natively here, on the tier in use."""
    if hint.lower() == "bf16":
        return runs_bf16_natively()
    return hint.upper() in openvino_capabilities()

"""The machine class: named from the ISA tier OpenVINO's kernels use, plus the cores; a capped run
says it is emulated; the tiers a CPU can stand in for and the environment that makes it do so."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from poseforge.machine import machine_info, standin_tiers, tier_environment

# /proc/cpuinfo as the kinds of machine here print it (flags cut to what decides the tier).
EPYC = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c\n"
XEON_AMX = ("model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: sse4_2 avx avx2 fma avx512f avx512bw "
            "avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_tile amx_int8 amx_bf16\n")  # fmt: skip
CASCADE_LAKE = "model name\t: Intel(R) Xeon(R) Gold 6230\nflags\t\t: avx avx2 fma avx512f avx512bw avx512_vnni\n"
ZEN4 = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 fma avx512f avx512bw avx512_vnni avx512_bf16\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 asimddp sve i8mm bf16\n"
OLD_X86 = "model name\t: Some CPU\nflags\t\t: sse sse2 sse4_2 avx\n"


@pytest.mark.parametrize(
    ("cpuinfo", "arch", "tier"),
    [
        (EPYC, "x86_64", "x86-avx2"),
        (XEON_AMX, "x86_64", "x86-amx"),
        (CASCADE_LAKE, "x86_64", "x86-avx512-vnni"),
        (ZEN4, "x86_64", "x86-avx512-bf16"),
        (GRAVITON3, "aarch64", "arm64-sve"),
        ("Features\t: fp asimd\n", "arm64", "arm64-neon"),
        (OLD_X86, "x86_64", "x86-sse"),
        ("", "riscv64", "riscv64"),
    ],
)
def test_the_class_is_the_tier_and_the_cores(cpuinfo: str, arch: str, tier: str) -> None:
    info = machine_info(cpuinfo, environ={}, arch=arch, cores=2)
    assert info["tier"] == tier and info["class"] == f"{tier}-2c" and info["cores"] == 2
    assert "native_tier" not in info


def test_a_capped_run_stands_in_for_a_lower_tier_and_says_so() -> None:
    info = machine_info(XEON_AMX, environ={"ONEDNN_MAX_CPU_ISA": "AVX2"}, arch="x86_64", cores=2)
    assert info["tier"] == "x86-avx2" and info["class"] == "x86-avx2-2c-emulated"
    assert info["native_tier"] == "x86-amx" and info["isa_cap"] == "AVX2"
    vnni = machine_info(XEON_AMX, environ={"ONEDNN_MAX_CPU_ISA": "avx512_core_vnni"}, arch="x86_64", cores=2)
    assert vnni["class"] == "x86-avx512-vnni-2c-emulated"
    # A cap above the CPU's own tier, or a value oneDNN ignores, claims nothing better.
    assert machine_info(EPYC, environ={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, arch="x86_64", cores=2)["class"] == (
        "x86-avx2-2c"
    )
    assert (
        machine_info(XEON_AMX, environ={"ONEDNN_MAX_CPU_ISA": "ALL"}, arch="x86_64", cores=4)["class"] == "x86-amx-4c"
    )


@pytest.mark.parametrize(
    ("cap", "tier"),
    [
        ("SSE41", "x86-sse"),  # below every tier: oneDNN's kernels run SSE4.1, not AMX
        ("avx", "x86-sse"),
        ("AVX2_VNNI_2", "x86-avx2-vnni"),
        ("AVX512_CORE_FP16", "x86-avx512-bf16"),  # above BF16, below AMX
        ("AVX10_1_512", "x86-avx512-bf16"),  # AVX512_CORE_FP16's later name
        ("AVX10_1_512_AMX", "x86-amx"),
        ("AVX512_CORE_AMX_FP16", "x86-amx"),
    ],
)
def test_every_cap_onednn_knows_names_the_tier_its_kernels_run(cap: str, tier: str) -> None:
    info = machine_info(XEON_AMX, environ={"ONEDNN_MAX_CPU_ISA": cap}, arch="x86_64", cores=2)
    assert info["tier"] == tier
    assert info["class"] == (f"{tier}-2c" if tier == "x86-amx" else f"{tier}-2c-emulated")


def test_the_tiers_a_cpu_can_stand_in_for() -> None:
    assert standin_tiers(XEON_AMX) == ["x86-avx2", "x86-avx512-vnni", "x86-amx"]
    assert standin_tiers(CASCADE_LAKE) == ["x86-avx2", "x86-avx512-vnni"]
    assert standin_tiers(EPYC) == ["x86-avx2"]
    assert standin_tiers(ZEN4) == ["x86-avx2", "x86-avx512-vnni", "x86-avx512-bf16"]


def test_a_tier_environment_caps_onednn_or_is_refused() -> None:
    env = tier_environment("x86-avx2", {"PATH": "/bin", "ONEDNN_MAX_CPU_ISA": "ALL"}, cpuinfo=XEON_AMX)
    assert env == {"PATH": "/bin", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert tier_environment("x86-amx", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, cpuinfo=XEON_AMX) == {}  # its own: no cap
    with pytest.raises(ValueError, match="cannot stand in for x86-amx"):
        tier_environment("x86-amx", {}, cpuinfo=EPYC)


def test_a_process_in_a_tier_environment_reports_that_tier() -> None:
    """What `bench --tiers` relies on: the child's own machine class is the tier it stands in for."""
    lowest = standin_tiers()[0]
    code = "import json; from poseforge.machine import machine_info; print(json.dumps(machine_info()))"
    done = subprocess.run([sys.executable, "-c", code], env=tier_environment(lowest), capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    child = json.loads(done.stdout)
    assert child["tier"] == lowest
    assert child["class"].endswith("-emulated") == (lowest != machine_info()["tier"])


def test_poseforge_machine_prints_the_class() -> None:
    command = [sys.executable, "-m", "poseforge.cli", "machine"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith(f"machine class {machine_info()['class']}: ISA tier")
    done = subprocess.run([*command, "--class"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == machine_info()["class"]

"""The fleet bench: every IR measured on one machine of each class a bundle will run on, in one file.

A target is a machine class and where to measure it: a node of that class, or, on one machine,
a tier it stands in for (the tier's environment, as `bench --tiers` gives its processes). Each
round measures every target once (`fleet_round`, the round `bench --tiers` measures), so a load
that comes and goes touches the rounds alike; each ratio is taken within a round, then the
median. Where the rounds run is the scheduler's business (poseforge.cluster.fleet: Ray).
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poseforge.artifacts import REFERENCE, artifact_digest
from poseforge.documents import FLEET
from poseforge.errors import PoseforgeError
from poseforge.machine import machine_info
from poseforge.metadata import toolchain_versions
from poseforge.text import plural
from poseforge.validate.speed.interleaved import THROUGHPUT_PAIRS, medians, ratio_sentence, ratios_by_round, speed_table
from poseforge.validate.speed.tiers import measure_round, read_measured, summarize_rounds, tier_runs

FLEET_FILE = "bench-fleet.json"


@dataclass(frozen=True)
class Target:
    """One machine class to measure, and where."""

    tier: str  # the ISA tier its kernels run at
    node: str | None = None  # the scheduler's node to run on
    resource: str | None = None  # the node's one-unit label a round holds: one measurement at a time per node
    cpus: int = 1  # the node's CPUs, all held by a round
    environment: dict[str, str] = field(default_factory=dict)  # what stands in for the tier (an ISA cap)


@dataclass(frozen=True)
class RoundJob:
    runs: dict[str, tuple[str, str]]  # name -> (IR path, precision hint)
    digests: dict[str, str]  # name -> artifact_digest the IR must have where it runs
    shape: list[int]
    iterations: int
    seconds: float
    number: int = 1  # the round, which sets the order of its runs (round_order)


def plan(model_dir: Path, tier: str) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The model's metadata (from the IR FP32) and the runs a machine of `tier` measures."""
    from poseforge.runtime import artifact_metadata

    reference = model_dir / "ir" / "fp32" / "model.xml"
    if not reference.is_file():
        raise PoseforgeError(f"the fleet bench needs the IR FP32 {reference}: run `make ir-fp32` first")
    meta = artifact_metadata(reference)
    return meta, {name: (str(path), hint) for name, (path, hint) in tier_runs(model_dir, meta["model"], tier).items()}


def fleet_round(job: RoundJob) -> dict[str, Any]:
    """One round where this process runs: the IRs checked to be the driver's, then measured back to back."""
    for name, (path, _) in job.runs.items():
        if artifact_digest(path) != job.digests[name]:
            raise PoseforgeError(f"{path} on {platform.node()} is not the {name} being measured (sha256 differs): "
                                 "every node must see the same files")  # fmt: skip
    return {"machine": machine_info(), "host": platform.node(),
            "speed": measure_round(job.runs, job.shape, job.iterations, job.seconds, job.number)}  # fmt: skip


def fleet_document(model: str, artifacts: dict[str, str], shape: list[int], rounds: int, seconds: float,
                   measured: list[list[dict[str, Any]]], scheduler: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The fleet file from `measured[round][target]`: a section per machine class."""
    classes: dict[str, Any] = {}
    for target in range(len(measured[0])):
        runs = [measured[r][target] for r in range(rounds)]
        machine = runs[0]["machine"]
        if any(run["machine"]["class"] != machine["class"] for run in runs):
            raise PoseforgeError(
                f"the rounds of one target ran on classes {sorted({r['machine']['class'] for r in runs})}"
            )
        if machine["class"] in classes:
            raise PoseforgeError(f"two targets measured machine class {machine['class']}")
        by_name = {name: [run["speed"][name] for run in runs] for name in runs[0]["speed"]}
        classes[str(machine["class"])] = {
            "machine": machine,
            "host": runs[0]["host"],
            "emulated": "native_tier" in machine,
            "speed": (speed := summarize_rounds(by_name)),
            "ratios": medians(ratios_by_round(speed, THROUGHPUT_PAIRS)),
        }
    return {
        "schema": FLEET.schema,
        "model": model,
        "artifacts": artifacts,
        "shape": shape,
        "rounds": rounds,
        "seconds": seconds,
        "scheduler": scheduler,
        "machine": machine_info(),
        "classes": classes,
        "versions": toolchain_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def fleet_lines(fleet: dict[str, Any]) -> list[str]:
    """One markdown table per machine class (the command prints them; report.md includes them)."""
    lines = [
        "## Fleet",
        "",
        f"`{FLEET_FILE}`: every IR measured on one machine of each class ("
        f"{fleet['scheduler'].get('scheduler', '?')}, {plural(fleet['rounds'], 'round')}, one measurement at a time "
        f"per machine, all its cores). Throughput is the median over rounds; its ratio to {REFERENCE} is taken "
        "within each round, then the median. An emulated class caps oneDNN's kernels (ONEDNN_MAX_CPU_ISA) on a "
        "better CPU: it stands in for that tier.",
    ]
    for name, entry in fleet["classes"].items():
        lines += ["", f"### {name}" + (" (emulated)" if entry["emulated"] else "") + f" on {entry['host']}", ""]
        lines += speed_table(entry["speed"])
        if entry["ratios"]:
            lines += ["", ratio_sentence(entry)]
    return lines


def read_fleet(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's bench-fleet.json, or None; refused if it measured other versions of the IRs."""
    return read_measured(model_dir, FLEET_FILE, FLEET, "bench-fleet", "classes")

"""`poseforge bench --ray ADDRESS`: the fleet bench scheduled on Ray.

Each machine class present among the cluster's labelled nodes is measured on one of its nodes;
a round there holds the node's one-unit class label and all its CPUs, so no two measurements
share its cores. A cluster of this one machine stands in for the tiers this CPU can (each a
task whose runtime_env caps oneDNN's kernels, as `bench --tiers` does with processes), so the
same path runs everywhere. The rounds themselves are `validate.speed.fleet.fleet_round`.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any

from poseforge.artifacts import artifact_digest
from poseforge.cluster.session import Cluster, Node, class_resource
from poseforge.documents import FLEET, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim
from poseforge.machine import ISA_CAP_VARIABLE, standin_tiers, tier_cap, tier_of_class
from poseforge.validate.speed.fleet import RoundJob, Target, fleet_document, fleet_lines, fleet_round, plan

ITERATIONS = 10  # latency iterations per run and round


def targets(cluster: Cluster, tiers: list[str] | None = None) -> list[Target]:
    """One node of each labelled class; on a cluster of this machine alone, the tiers it stands in for
    (`tiers`, else all of them)."""
    labelled = [node for node in cluster.nodes() if node.machine_class]
    if not labelled:
        raise PoseforgeError("no node of the Ray cluster is labelled with its machine class: start each with "
                             "`ray start ... --resources \"$(poseforge machine --ray-resources)\"`")  # fmt: skip
    alone = len(cluster.nodes()) == 1 and (cluster.address == "local" or labelled[0].host == platform.node())
    if alone:
        node = labelled[0]
        try:
            # Its workers inherit this command's environment: an empty cap undoes one the command runs under.
            chosen = tiers or standin_tiers()
            return [_target(node, tier, {ISA_CAP_VARIABLE: "", **tier_cap(tier)}) for tier in chosen]
        except ValueError as exc:
            raise PoseforgeError(str(exc)) from None
    if tiers:
        raise PoseforgeError("stand-in tiers are measured on a cluster of this machine alone")
    chosen: dict[str, Node] = {}
    for node in sorted(labelled, key=lambda n: n.id):
        chosen.setdefault(str(node.machine_class), node)
    return [_target(node, tier_of_class(name), {}) for name, node in sorted(chosen.items())]


def _target(node: Node, tier: str, environment: dict[str, str]) -> Target:
    return Target(tier, node.id, class_resource(str(node.machine_class)), max(node.cpus, 1), environment)


def measure_fleet(
    model_dir: str | Path,
    cluster: Cluster,
    seconds: float = 4.0,
    rounds: int = 3,
    tiers: list[str] | None = None,
    say: Any = print,
    iterations: int = ITERATIONS,
) -> dict[str, Any]:
    """Every target's rounds, interleaved: round r is one task per target, all submitted together."""
    model_dir = Path(model_dir)
    chosen = targets(cluster, tiers)
    jobs = []
    artifacts: dict[str, str] = {}
    for target in chosen:
        meta, runs = plan(model_dir, target.tier)
        digests = {name: artifact_digest(path) for name, (path, _) in runs.items()}
        artifacts.update(digests)
        shape = [1, 3, *meta["input"]["deploy_shape"]]
        jobs.append(RoundJob(runs, digests, shape, iterations, seconds))
    measured = []
    for number in range(1, rounds + 1):
        numbered = [dataclasses.replace(job, number=number) for job in jobs]
        results = cluster.run(
            fleet_round, numbered, num_cpus=[t.cpus for t in chosen], resources=[{t.resource: 1} for t in chosen],
            runtime_env=[{"env_vars": t.environment} if t.environment else None for t in chosen],
            nodes=[t.node for t in chosen], what=f"round {number}/{rounds}",
        )  # fmt: skip
        for target, result in zip(chosen, results, strict=True):
            if result["machine"]["tier"] != target.tier:
                raise PoseforgeError(f"the {target.tier} round ran at tier {result['machine']['tier']} on "
                                     f"{result['host']}: its label or the ISA cap is wrong")  # fmt: skip
            say(f"round {number}/{rounds} {result['machine']['class']}: " + ", ".join(
                f"{name} {run['throughput_fps']:.1f} fps" for name, run in result["speed"].items()))  # fmt: skip
        measured.append(results)
    return fleet_document(meta["model"], artifacts, jobs[0].shape, rounds, seconds, measured, cluster.record())


def run_fleet(
    model_dir: str | Path,
    cluster: Cluster,
    output: str | Path | None,
    seconds: float = 4.0,
    rounds: int = 3,
    tiers: list[str] | None = None,
    iterations: int = ITERATIONS,
) -> dict[str, Any]:
    """Measure the fleet, print a table per class, write the fleet file."""
    from poseforge.ui import console

    if output is not None:
        claim(output)
    fleet = measure_fleet(model_dir, cluster, seconds, rounds, tiers, console(stderr=True).print, iterations)
    print("\n".join(fleet_lines(fleet)))
    if output is not None:
        write_document(output, FLEET, fleet)
    return fleet

"""`poseforge validate --ray`: the shards of a validation as Ray tasks.

Each task holds `threads` CPUs and runs `validate.accuracy.shards.run_shard`, whose worker
process opens the artifact once and keeps it for the next shard it is given. A worker lost
mid-shard is Ray's to retry: a shard's detections come back only from a run that finished it,
and the merge takes each shard exactly once.
"""

from __future__ import annotations

from typing import Any

from poseforge.cluster.session import Cluster
from poseforge.errors import PoseforgeError
from poseforge.validate.accuracy.shards import Shard, Sharding

SHARDS_PER_WORKER = 4  # a few shards per worker: the last ones finish close together, each costs one pipeline fill


def ray_sharding(cluster: Cluster, threads: int = 1, shards: int | None = None) -> Sharding:
    """Shards dispatched to `cluster`, each task holding `threads` CPUs (the runtime's threads)."""
    largest = max(node.cpus for node in cluster.nodes())
    if threads > largest:  # Ray would wait forever for a node that can hold the task
        raise PoseforgeError(f"a shard runs {threads} threads, more CPUs than any node of the cluster has ({largest})")
    workers = max(1, cluster.cpus() // threads)

    def dispatch(fn: Any, jobs: list[Shard]) -> list[Any]:
        return cluster.run(fn, jobs, num_cpus=threads, weights=[len(s.images) for s in jobs], what="shards")

    return Sharding(dispatch, shards or SHARDS_PER_WORKER * workers, cluster.record())

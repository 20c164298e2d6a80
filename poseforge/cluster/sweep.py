"""`poseforge sweep --ray`: a sweep's rows as Ray tasks, each holding a whole node.

A row quantizes, validates and then times its INT8 IR against the FP32 IR: holding every CPU of
the smallest node keeps other rows off its cores while it is timed. N nodes run N rows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from poseforge.cluster.session import Cluster
from poseforge.quantize.sweep import Dispatch


def ray_rows(cluster: Cluster) -> Dispatch:
    cpus = min(node.cpus for node in cluster.nodes())

    def dispatch(fn: Callable[[Any], Any], jobs: list[Any], on_done: Callable[[int, Any], None]) -> list[Any]:
        return cluster.run(fn, jobs, num_cpus=cpus, what="rows", on_done=on_done)

    return dispatch

"""One local Ray for the session's cluster tests (2 CPUs, this machine's class as its label, its files
in a temporary folder), started on first use: about 8 seconds, so the tests using it are few."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def local_ray() -> Iterator[object]:
    pytest.importorskip("ray", reason="Ray is the cluster extra: `make setup-cluster` installs it")
    from poseforge.cluster.session import ray_cluster

    with ray_cluster("local", "tests", cpus=2) as cluster:
        yield cluster

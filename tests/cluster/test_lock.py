"""The cluster extra is pinned apart: requirements-cluster.lock adds Ray and what it needs to
requirements.lock, `make setup` never installs it, and `make setup-cluster` installs exactly it."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from tests.deploy.test_base_install import pins

REPO = Path(__file__).resolve().parents[2]
CLUSTER_LOCK = REPO / "requirements-cluster.lock"


def test_the_cluster_lock_adds_ray_to_the_full_lock_and_setup_leaves_it_out() -> None:
    cluster, full = pins(CLUSTER_LOCK), pins(REPO / "requirements.lock")
    assert "ray" in cluster and not set(cluster) & set(full)
    extra = re.search(r"^cluster = \[(.*)\]$", (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert extra is not None
    assert re.findall(r'"ray\[client\]==([\w.]+)"', extra.group(1)) == [cluster["ray"]]
    dry = subprocess.run(["make", "-n", "-B", "-C", str(REPO), "setup"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "requirements.lock" in dry.stdout and "cluster" not in dry.stdout
    dry = subprocess.run(["make", "-n", "-B", "-C", str(REPO), "setup-cluster"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert "--no-deps -r requirements-cluster.lock" in dry.stdout and "pip check" in dry.stdout


def test_the_installed_cluster_extra_is_the_lock() -> None:
    pytest.importorskip("ray", reason="Ray is the cluster extra: `make setup-cluster` installs it")
    installed = {name: metadata.version(name) for name in pins(CLUSTER_LOCK)}
    assert installed == pins(CLUSTER_LOCK)

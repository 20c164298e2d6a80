"""`validate --ray`: the images in shards run as Ray tasks give the results one process writes, byte for
byte, even when a worker is killed mid-shard (Ray runs its shard again; nothing is lost or counted twice)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from poseforge.validate.accuracy.validate import report_paths, validate_artifact
from tests.validate.conftest import make_coco

IMAGES = 24  # coco-mini images with people: a few seconds a run
TASK_TITLE = b"ray::poseforge_task"  # what a Ray worker running one of poseforge's tasks calls itself


@pytest.fixture(scope="module")
def coco24(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    return make_coco(tmp_path_factory.mktemp("shards") / "coco", assets, IMAGES)


@pytest.fixture(scope="module")
def single(omz_build: Path, coco24: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Intel's INT8 IR (machine-dependent kernels) validated in this one process."""
    output = tmp_path_factory.mktemp("single") / "omz-int8-val.json"
    validate_artifact(omz_build / "ir/omz-int8/model.xml", coco24, "val", output, measure=False)
    return output


def sharded(local_ray: object, omz_build: Path, coco24: Path, output: Path, shards: int) -> dict:
    from poseforge.cluster.shards import ray_sharding
    from poseforge.runtime.options import ACCURACY

    sharding = ray_sharding(local_ray, 1, shards)
    options = ACCURACY.replace(threads=1)
    return validate_artifact(omz_build / "ir/omz-int8/model.xml", coco24, "val", output, measure=False,
                             options=options, sharding=sharding)  # fmt: skip


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def ours(pid: int) -> bool:
    """True if `pid` descends from this test process (its Ray's raylet started it): nobody else's worker."""
    for _ in range(8):
        pid = parent(pid)
        if pid == os.getpid():
            return True
        if pid <= 1:
            return False
    return False


def same_results(single: Path, other: Path) -> None:
    a, b = (report_paths(p)[1].read_bytes() for p in (single, other))
    assert a == b
    ours, theirs = json.loads(single.read_text()), json.loads(other.read_text())
    for key in ("ap", "ap50", "ar", "interval", "results_sha256", "images", "dataset"):
        assert ours[key] == theirs[key], key
    assert theirs["machine"]["class"] == ours["machine"]["class"]


def test_sharded_validation_writes_the_bytes_one_process_writes(
    local_ray: object, omz_build: Path, coco24: Path, single: Path, tmp_path: Path
) -> None:
    report = sharded(local_ray, omz_build, coco24, tmp_path / "r.json", shards=5)
    same_results(single, tmp_path / "r.json")
    cluster = report["cluster"]
    assert cluster["shards"] == 5 and cluster["images_per_shard"] == [5, 5, 5, 5, 4]
    assert cluster["scheduler"].startswith("ray ") and cluster["nodes"] == 1 and 1 <= cluster["workers"] <= 2
    assert report["runtime"]["threads"] == 1 and not report["runtime"]["cpu_pinning"]  # workers share the cores
    assert "cluster" not in json.loads(single.read_text())


def test_a_worker_killed_mid_shard_loses_nothing_and_counts_nothing_twice(
    local_ray: object, omz_build: Path, coco24: Path, single: Path, tmp_path: Path
) -> None:
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_first_worker_that_runs_a_shard() -> None:
        while not stop.is_set() and not killed:
            for entry in os.listdir("/proc"):
                try:
                    title = Path(f"/proc/{entry}/cmdline").read_bytes() if entry.isdigit() else b""
                    mine = title.startswith(TASK_TITLE) and ours(int(entry))
                except OSError:
                    continue
                if mine:
                    os.kill(int(entry), signal.SIGKILL)  # a worker of the test's own Ray
                    killed.append(int(entry))
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_worker_that_runs_a_shard)
    killer.start()
    try:
        report = sharded(local_ray, omz_build, coco24, tmp_path / "r.json", shards=8)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen running a shard"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    same_results(single, tmp_path / "r.json")  # every shard's detections once, in image order
    assert report["cluster"]["shards"] == 8
